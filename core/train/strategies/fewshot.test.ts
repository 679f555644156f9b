import * as tf from '@tensorflow/tfjs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/Dataset.js';
import { FewShotSupernet, treeLeaves } from '../../nn/FewShotSupernet.js';
import { TrainConfig } from '../../protocol/protocol.js';
import { archPositions, decodeArch, encodeArch, sampleArch } from '../../space/archCodec.js';
import { createRng } from '../../space/rng.js';
import type { Checkpoint } from '../checkpointFormat.js';
import { evaluateArch } from '../evaluate.js';
import { restoreSupernet } from '../restoreSupernet.js';
import { newRunRecord, RunStore } from '../RunStore.js';
import { runTraining } from '../runTraining.js';
import { train, type TrainerSink } from '../Trainer.js';
import { decodeFewShotSplits, fewShotTree } from '../../protocol/fewShotReport.js';
import { fewshot, FEWSHOT_LEAVES, type FewShotState } from './fewshot.js';
import { pathWithChoice } from './gradientMatching.js';
import { buildRunSupernet } from './registry.js';
import { loadSpirals, SPIRALS, twoStageSpace } from './strategyFixtures.js';

const space = twoStageSpace([8, 12, 16]);
const data = SPIRALS;
const config = (over: Partial<TrainConfig> = {}) =>
  TrainConfig.parse({ space, data, strategy: 'fewshot', steps: 20, batchSize: 32, learningRate: 0.02, evalEvery: 10, checkpointEvery: 100, backend: 'cpu', ...over });

let ds: Dataset;
beforeAll(async () => {
  ds = await loadSpirals();
});

function recorder() {
  const ckpts: Checkpoint[] = [];
  const sink: TrainerSink = { metrics: () => undefined, specialization: () => undefined, checkpoint: (c) => void ckpts.push(c) };
  return { ckpts, sink };
}
const clock = () => {
  let t = 0;
  return () => (t += 10);
};

describe("strategy 'fewshot'", () => {
  it('splits every leaf at 40 % and 80 % of training at its lowest-similarity edge, into copies that then train apart', async () => {
    const cfg = config();
    const net = buildRunSupernet(cfg) as FewShotSupernet;
    expect(net).toBeInstanceOf(FewShotSupernet);
    const r = recorder();
    await train({ config: cfg, net, dataset: ds, sink: r.sink, now: clock(), snapshots: 0 });
    const state = r.ckpts.at(-1)!.meta.strategyState as FewShotState;
    // Step 8 (40 % of 20) splits the root; step 16 (80 %) splits both leaves.
    expect(state.splits.map((s) => s.step)).toEqual([8, 16, 16]);
    expect(treeLeaves(state.tree).sort()).toEqual([0, 1, 2, 3]);
    expect(FEWSHOT_LEAVES).toBe(4);
    expect(net.tree).toEqual(state.tree);
    // The run view's numbers decode to the same splits and tree.
    const views = decodeFewShotSplits(fewshot.report!({ state } as never) as Record<string, number[]>)!;
    expect(views.map((v) => [v.step, v.leaf, v.newLeaf, v.chosen])).toEqual(state.splits.map((v) => [v.step, v.leaf, v.newLeaf, v.chosen]));
    views.forEach((v, i) => v.edges.forEach((e, k) => expect(e.similarity).toEqual(state.splits[i]!.edges[k]!.similarity)));
    const strip = (t: object): unknown => ('leaf' in t ? t : { position: (t as { position: number }).position, groups: (t as { groups: unknown }).groups, children: (t as { children: object[] }).children.map(strip) });
    expect(strip(fewShotTree(views))).toEqual(state.tree);
    for (const s of state.splits) {
      // The chosen edge has the lowest mean cross-group similarity of the edges measured.
      const scores = s.edges.map((e) => e.score);
      expect(s.edges[s.chosen]!.score).toBe(Math.min(...scores));
      // A second-level split does not re-split the edge its parent split at.
      if (s.step === 16) expect(s.edges.map((e) => e.position)).not.toContain(state.splits[0]!.edges[state.splits[0]!.chosen]!.position);
    }
    // After the splits the copies differ (each trained only on its own subnets).
    const k0 = net.copies[0]!.namedVariables().get('head.kernel')!;
    for (let k = 1; k < 4; k++) expect(tf.max(tf.abs(tf.sub(k0, net.copies[k]!.namedVariables().get('head.kernel')!))).arraySync()).toBeGreaterThan(0);

    // Every subnet is scored with the copy its choices fall in.
    const rng = createRng(5);
    const byLeaf = new Map<number, ReturnType<typeof sampleArch>>();
    for (let i = 0; i < 200 && byLeaf.size < 4; i++) {
      const a = sampleArch(space, rng);
      byLeaf.set(net.leafFor(a), a);
    }
    expect(byLeaf.size).toBe(4);
    for (const [leaf, a] of byLeaf) {
      const whole = await evaluateArch(net, a, ds.val, { inputShape: ds.inputShape });
      const own = await evaluateArch(net.copies[leaf]!, a, ds.val, { inputShape: ds.inputShape });
      expect(whole).toEqual(own);
    }
    net.dispose();
  });

  it('resumes exactly, before a split and between splits, the tree coming back from the checkpoint', async () => {
    // 12 steps: splits start steps 5 (progress ≥ 0.4) and 10 (≥ 0.8).
    const cfg = config({ steps: 12 });
    const refNet = buildRunSupernet(cfg);
    const ref = recorder();
    await train({ config: cfg, net: refNet, dataset: ds, sink: ref.sink, now: clock(), snapshots: 0 });
    for (const [stopAt, splitsBefore] of [[3, 0], [8, 1]] as const) {
      const net = buildRunSupernet(cfg);
      const ac = new AbortController();
      const first = recorder();
      await train({ config: cfg, net, dataset: ds, sink: first.sink, now: clock(), snapshots: 0, signal: ac.signal, onStep: (p) => p.step === stopAt && ac.abort() });
      net.dispose();
      const ckpt = first.ckpts.at(-1)!;
      expect((ckpt.meta.strategyState as FewShotState).splits).toHaveLength(splitsBefore);
      const net2 = buildRunSupernet(cfg, ckpt.meta.strategyState);
      const second = recorder();
      await train({ config: cfg, net: net2, dataset: ds, sink: second.sink, now: clock(), snapshots: 0, resume: ckpt });
      expect(second.ckpts.at(-1)!.meta.strategyState).toEqual(ref.ckpts.at(-1)!.meta.strategyState);
      expect(second.ckpts.at(-1)!.variables).toEqual(ref.ckpts.at(-1)!.variables);
      net2.dispose();
    }
    refNet.dispose();
  });

  it('trains from a run folder and comes back from it (search, rank, export) as its sub-supernets', async () => {
    const runsDir = join(await mkdtemp(join(tmpdir(), 'sy-fewshot-')), 'runs');
    const store = new RunStore(runsDir);
    const id = store.newRunId();
    await store.createRun(newRunRecord(id, config(), space.name));
    const r = await runTraining({ store, runId: id, resume: false, emit: () => undefined });
    expect(r.summary.status).toBe('completed');
    const restored = await restoreSupernet(store.runDir(id));
    expect(restored.net).toBeInstanceOf(FewShotSupernet);
    const fs = restored.net as FewShotSupernet;
    expect(treeLeaves(fs.tree)).toHaveLength(4);
    const pos = archPositions(space);
    const root = fs.tree as Extract<FewShotSupernet['tree'], { position: number }>;
    // Two subnets that differ only at the root's split edge, one in each group, use different copies.
    const base = encodeArch(space, sampleArch(space, createRng(2)));
    const [a, b] = root.groups.map((g) => decodeArch(space, pathWithChoice(space, base, root.position, g[0]!)));
    expect(pos[root.position]!.choices.length).toBeGreaterThan(1);
    expect(fs.resolve(a!)).not.toBe(fs.resolve(b!));
    fs.dispose();
  });
});
