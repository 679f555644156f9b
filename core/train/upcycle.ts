/**
 * BAM-style upcycling (Zhang et al. 2024, "BAM! Just Like That: Simple and Efficient Parameter Upcycling
 * for Mixture of Experts"; its FFN half, which is Branch-Train-MiX's recipe, Sukhbaatar et al. 2024):
 * the experts of a new MoE run start from the FFN weights of trained dense runs — expert k of every MoE
 * layer takes source run k mod R's FFN (a dense run here is the same space with one-expert MoE blocks,
 * i.e. a plain residual FFN; with several source experts, expert ⌊k/R⌋ of it) — the routers start fresh,
 * and every other parameter (stem, head, norms) is the average of the sources' (BTX/BAM's "merge the
 * other parameters"). Training then continues as usual. Deviation: BAM also upcycles attention into a
 * soft mixture of attention experts; these spaces have no attention blocks.
 */
import type { Supernet } from '../nn/types.js';
import type { NamedArray } from './checkpointFormat.js';
import type { RunStore } from './RunStore.js';
import { loadVariables, readVariables } from './Trainer.js';

const EXPERT = /^(.*\.moe)\.e(\d+)\.(w1|b1|w2|b2)$/;
/** Router parameters (kernel, bias, gating residual, recurrent state): re-initialised, never copied. */
const ROUTER = /\.moe\.(router|routerBias|gateResidual|rec\w*)(\.|$)/;

export interface UpcycleReport {
  /** Variables copied from one source (experts), averaged over the sources, and left at their fresh init. */
  copied: string[];
  averaged: string[];
  fresh: string[];
}

const sameShape = (a: NamedArray, b: NamedArray) => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/** The target's initial arrays with experts from the sources, the rest averaged, routers fresh. */
export function upcycleArrays(target: readonly NamedArray[], sources: readonly (readonly NamedArray[])[]): { arrays: NamedArray[]; report: UpcycleReport } {
  if (sources.length === 0) throw new Error('upcycling needs at least one source run');
  const maps = sources.map((s) => new Map(s.map((a) => [a.name, a])));
  const sourceExperts = maps.map((m) => {
    const count = new Map<string, number>();
    for (const name of m.keys()) {
      const e = EXPERT.exec(name);
      if (e && e[3] === 'w1') count.set(e[1]!, Math.max(count.get(e[1]!) ?? 0, Number(e[2]) + 1));
    }
    return count;
  });
  const report: UpcycleReport = { copied: [], averaged: [], fresh: [] };
  const arrays = target.map((t): NamedArray => {
    if (ROUTER.test(t.name)) {
      report.fresh.push(t.name);
      return t;
    }
    const e = EXPERT.exec(t.name);
    if (e) {
      const [, layer, kStr, part] = e;
      const k = Number(kStr);
      const r = k % sources.length;
      const n = sourceExperts[r]!.get(layer!) ?? 0;
      const src = n > 0 ? maps[r]!.get(`${layer}.e${Math.floor(k / sources.length) % n}.${part}`) : undefined;
      if (src && sameShape(src, t)) {
        report.copied.push(t.name);
        return { ...t, data: src.data.slice() };
      }
      report.fresh.push(t.name);
      return t;
    }
    const found = maps.map((m) => m.get(t.name)).filter((a): a is NamedArray => !!a && sameShape(a, t) && a.dtype === t.dtype);
    if (found.length === 0 || t.dtype !== 'float32') {
      report.fresh.push(t.name);
      return t;
    }
    const data = new Float32Array(t.data.length);
    const acc = new Float64Array(t.data.length);
    for (const a of found) for (let i = 0; i < acc.length; i++) acc[i]! += a.data[i]! / found.length;
    data.set(acc);
    report.averaged.push(t.name);
    return { ...t, data };
  });
  return { arrays, report };
}

/** Initialise `net` (a fresh run's supernet) from the latest checkpoints of `runIds` in `store`. */
export async function upcycleFromRuns(net: Supernet, store: RunStore, runIds: readonly string[], onWarning?: (m: string) => void): Promise<UpcycleReport> {
  const sources: NamedArray[][] = [];
  for (const id of runIds) {
    const ckpt = await store.loadLatestCheckpoint(id, onWarning).catch((e: unknown) => {
      throw new Error(`upcycleFrom: run "${id}": ${e instanceof Error ? e.message : String(e)}`);
    });
    if (!ckpt) throw new Error(`upcycleFrom: run "${id}" has no checkpoint`);
    sources.push(ckpt.variables);
  }
  const { arrays, report } = upcycleArrays(readVariables(net), sources);
  loadVariables(net, arrays);
  return report;
}
