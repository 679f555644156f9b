/**
 * `npx tsx bench/tokenRoutingStats.ts <runsDir> <runId> [samples]`: the token view's numbers for a stored
 * run on its validation batch (run.tokenRouting with the largest subnet): per MoE layer the top-expert
 * share of each slot, and the mutual information I(token class; top expert) in bits against its bound
 * H(top expert) — 0 when the routing ignores which character a token is.
 */
import { largestArch } from '../core/space/archCodec.js';
import { restoreSupernet } from '../core/train/restoreSupernet.js';
import { tokenRoutingOnRun } from '../core/train/tokenRoutingRun.js';
import { join } from 'node:path';

const [runsDir, runId, samplesArg] = process.argv.slice(2);
if (!runsDir || !runId) throw new Error('usage: tokenRoutingStats.ts <runsDir> <runId> [samples]');
const { net, record, step } = await restoreSupernet(join(runsDir, runId));
const arch = largestArch(net.space);
net.dispose();
const r = await tokenRoutingOnRun({ runId, arch, samples: Number(samplesArg ?? 64) }, runsDir);
const tokens = r.sequences.flatMap((s) => s.tokens);
console.log(`run ${runId} (${record.config.space.name}) at step ${step}: ${r.sequences.length} validation sequences, ${tokens.length} tokens`);
const entropy = (counts: Iterable<number>, n: number) => [...counts].reduce((h, c) => (c > 0 ? h - (c / n) * Math.log2(c / n) : h), 0);
r.layers.forEach((l, li) => {
  const joint = new Map<string, number>();
  const byClass = new Map<string, number>();
  const byExpert = new Map<number, number>();
  for (const t of tokens) {
    const e = t.layers[li]!.experts[0] ?? -1;
    joint.set(`${t.text}\u0000${e}`, (joint.get(`${t.text}\u0000${e}`) ?? 0) + 1);
    byClass.set(t.text, (byClass.get(t.text) ?? 0) + 1);
    byExpert.set(e, (byExpert.get(e) ?? 0) + 1);
  }
  const n = tokens.length;
  const hE = entropy(byExpert.values(), n);
  const mi = entropy(byClass.values(), n) + hE - entropy(joint.values(), n);
  const share = l.expertNames.map((name, e) => `${name} ${(((byExpert.get(e) ?? 0) / n) * 100).toFixed(1)}%`).join(', ');
  console.log(`${l.layer}: top-expert share ${share}; I(char; top expert) = ${mi.toFixed(3)} bits of H(top expert) = ${hE.toFixed(3)} bits`);
});
