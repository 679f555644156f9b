/**
 * Issue 15, bit width as a search dimension: a trained run of a space with `bits` choices (e.g.
 * assets/spaces/fashion-moe-bits.json), every stem × expert bit width at the largest widths, scored on the whole
 * validation and test splits (Wilson 95 %), sized as stored. With a control run (the same space without `bits`,
 * trained alike), post-training quantisation of its largest subnet's experts at the same bits (the `quantize`
 * method's arithmetic) — what training through the fake quantiser buys (within one run the two coincide: the
 * lowering of a bits choice is that quantiser on the shared weights). Also exports the smallest subnet and checks
 * its ONNX (Q/DQ) in onnxruntime-node.
 *
 *   node --import tsx bench/issue15Bits.ts <runDir> [controlRunDir]
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../core/data/Dataset.js';
import { exportSubnetFromNet } from '../core/export/exportSubnet.js';
import { selectBackend } from '../core/nn/backend.js';
import { graphAccuracy, sliceTensor, type SubnetGraph, type SubnetOp } from '../core/nn/graph/evaluate.js';
import { quantizeOpExperts } from '../core/nn/graph/quantize.js';
import { graphSize } from '../core/nn/graph/storage.js';
import { subnetGraph } from '../core/nn/Supernet.js';
import { accuracyEstimate, formatAccuracy } from '../core/protocol/accuracyInterval.js';
import { largestArch } from '../core/space/archCodec.js';
import type { Arch } from '../core/space/SearchSpace.js';
import { restoreSupernet } from '../core/train/restoreSupernet.js';

const [runDir, controlDir] = process.argv.slice(2);
if (!runDir) throw new Error('usage: bench/issue15Bits.ts <runDir> [controlRunDir]');
await selectBackend('wasm');
const { net, record } = await restoreSupernet(runDir);
const space = net.space;
const ds = await loadDataset(record.config.data, { input: space.input });
const full = largestArch(space);
const bitsOf = (si: number): number[] => {
  const b = space.stages[si]!.block as { bits?: number[] };
  return b.bits ?? [32];
};
const withBits = (bits: number[]): Arch => ({ stages: full.stages.map((st, i) => ({ ...st, blocks: st.blocks.map((c) => ({ ...c, ...(bitsOf(i).length > 1 ? { bits: bits[i]! } : {}) })) })) });
const ptq = (g: SubnetGraph, bits: number): SubnetGraph => {
  const q = (ops: readonly SubnetOp[]): SubnetOp[] => ops.map((o) => (o.op === 'moe' ? quantizeOpExperts(o, () => bits, bits) : o.op === 'residual' ? { ...o, body: q(o.body) } : o));
  return { ...g, ops: q(g.ops) };
};
const score = async (g: SubnetGraph) => {
  const v = await graphAccuracy(g, { split: ds.val, from: 0, count: ds.val.n });
  const t = await graphAccuracy(g, { split: ds.test, from: 0, count: ds.test.n });
  return { val: accuracyEstimate('val', v.accuracy, v.n), test: accuracyEstimate('test', t.accuracy, t.n), kib: graphSize(g).bits / 8192 };
};
console.log('| stem bits | expert bits | how | val (95 % CI) | test (95 % CI) | KiB |\n| --- | --- | --- | --- | --- | --- |');
const combos = bitsOf(0).flatMap((a) => bitsOf(1).map((b) => [a, b]));
for (const [a, b] of combos.sort((x, y) => y[0]! - x[0]! || y[1]! - x[1]!)) {
  const g = subnetGraph(net, withBits([a!, b!]));
  const r = await score(g);
  console.log(`| ${a} | ${b} | trained (fake-quant + STE) | ${formatAccuracy(r.val)} | ${formatAccuracy(r.test)} | ${r.kib.toFixed(1)} |`);
}
if (controlDir) {
  const control = await restoreSupernet(controlDir);
  const floatGraph = subnetGraph(control.net, largestArch(control.net.space));
  for (const b of [32, ...bitsOf(1).filter((x) => x < 32).sort((x, y) => y - x)]) {
    const p = await score(b === 32 ? floatGraph : ptq(floatGraph, b));
    console.log(`| 32 | ${b} | control run${b === 32 ? '' : ', PTQ'} | ${formatAccuracy(p.val)} | ${formatAccuracy(p.test)} | ${p.kib.toFixed(1)} |`);
  }
  control.net.dispose();
}
const smallest = withBits(space.stages.map((_, i) => Math.min(...bitsOf(i))));
const checkX = sliceTensor(subnetGraph(net, smallest), { split: ds.val, from: 0, count: 64 });
const dir = await mkdtemp(join(tmpdir(), 'sy-bits-export-'));
const e = await exportSubnetFromNet(net, smallest, { formats: ['onnx'], outDir: dir, checkX });
console.log(`export of ${JSON.stringify(smallest.stages.map((s) => s.blocks[0]))}: ${e.files.join(', ')}; ONNX max |Δ| vs the supernet ${(e.maxAbsDiff ?? NaN).toExponential(2)} (64 validation samples)`);
net.dispose();
