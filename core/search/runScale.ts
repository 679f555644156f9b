/**
 * One hypervolume scale per run. A hypervolume is only comparable with another computed in the same
 * normalised box: if every search divided latency by its own timing of the largest subnet (timer noise
 * moved that divisor by 0.41–0.62 ms across nine searches of one run, issue 11), two searches of one
 * front would score differently by more than the gaps between strategies. So the divisors are fixed
 * the first time a run is searched for an objective (the largest subnet's cost, measured once) and
 * stored in `<run>/searches/scale.json`; every later search of the run reads them back. An objective
 * seen for the first time (params after a latency-only search) is added, never changed.
 *
 * The reference point lives in the normalised units (hypervolume.ts: error 1, costs 1.1) and is stored
 * beside the divisors so that a reader of the file needs nothing else to recompute a hypervolume.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { Objective } from '../protocol/protocol.js';
import { atomicWriteFile } from '../train/atomicWrite.js';
import { HV_REF_COST, HV_REF_ERROR } from './hypervolume.js';

export const RUN_SCALE_FILE = 'scale.json';

export const RunHvScale = z.object({
  version: z.literal(1),
  /** Divisor per cost objective: the largest subnet's cost when first measured. */
  scales: z.partialRecord(Objective, z.number().positive()),
  /** Reference point per objective, in normalised units. */
  ref: z.partialRecord(Objective, z.number()),
  /** Where each divisor was measured (latency depends on the backend and device). */
  measuredOn: z.partialRecord(Objective, z.object({ backend: z.string(), device: z.string(), at: z.string() })),
});
export type RunHvScale = z.infer<typeof RunHvScale>;

export function runScalePath(runDir: string): string {
  return join(runDir, 'searches', RUN_SCALE_FILE);
}

/** The run's stored scale, or null before its first search. A damaged file is an error naming it. */
export async function readRunScale(runDir: string): Promise<RunHvScale | null> {
  const file = runScalePath(runDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = RunHvScale.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`${file}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

/**
 * The run's scale for `objectives`: stored divisors are kept as they are; missing ones are measured
 * with `measure` (the largest subnet's cost) and written back before this returns.
 */
export async function fixRunScale(
  runDir: string,
  objectives: readonly Objective[],
  measure: (o: Objective) => number | Promise<number>,
  where: { backend: string; device: string; now?: () => Date },
): Promise<RunHvScale> {
  const stored = await readRunScale(runDir);
  const scale: RunHvScale = stored ?? { version: 1, scales: {}, ref: {}, measuredOn: {} };
  let changed = false;
  for (const o of objectives) {
    if (o === 'accuracy') {
      if (scale.ref.accuracy === undefined) [scale.ref.accuracy, changed] = [HV_REF_ERROR, true];
      continue;
    }
    if (scale.scales[o] !== undefined) continue;
    const v = await measure(o);
    if (!(v > 0) || !Number.isFinite(v)) throw new Error(`hypervolume scale for ${o}: the largest subnet measured ${v}, expected a positive number`);
    scale.scales[o] = v;
    scale.ref[o] = HV_REF_COST;
    scale.measuredOn[o] = { backend: where.backend, device: where.device, at: (where.now?.() ?? new Date()).toISOString() };
    changed = true;
  }
  if (changed) {
    await mkdir(dirname(runScalePath(runDir)), { recursive: true });
    await atomicWriteFile(runScalePath(runDir), JSON.stringify(scale, null, 2));
  }
  return scale;
}
