/**
 * Token-level routing (issue 12, token views): for a validation batch of a token workload, one inference
 * forward of the subnet through the supernet, and per token the slots every MoE layer used with their
 * gates, read from the layers' own reports (MoELayerOutput.mask and .gates, [B·T, slots] in the row order
 * of the transformer's [B, T, d] → [B·T, d] reshape), so the view shows exactly what the forward did.
 * Also the causal LM's next-token function for generation from a prompt (./generate.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/DatasetContract.js';
import { UNK } from '../data/textCorpus.js';
import type { Supernet } from '../nn/types.js';
import type { GenerateRequest, GenerateResult, TokenLayerRouting, TokenRouting } from '../protocol/protocol.js';
import type { Arch } from '../space/SearchSpace.js';
import { generate, type NextTokenLogits } from './generate.js';

export interface TokenRoutingOptions {
  runId: string;
  /** First validation sample of the batch. */
  offset: number;
  /** Samples in the batch (clipped to the split's end). */
  samples: number;
}

/** Per row of a [rows, slots] mask / gates pair: the used slots, highest gate first (slot order on ties). */
export function routedSlots(mask: ArrayLike<number>, gates: ArrayLike<number>, rows: number, slots: number): TokenLayerRouting[] {
  const out: TokenLayerRouting[] = [];
  for (let r = 0; r < rows; r++) {
    const used: number[] = [];
    for (let s = 0; s < slots; s++) if (mask[r * slots + s]! > 0) used.push(s);
    used.sort((a, b) => gates[r * slots + b]! - gates[r * slots + a]! || a - b);
    out.push({ experts: used, gates: used.map((s) => gates[r * slots + s]!) });
  }
  return out;
}

function tokenKindOf(ds: Dataset): TokenRouting['tokenKind'] {
  if (ds.tokens) return ds.kind === 'text' ? 'character' : 'symbol';
  if (ds.inputShape.length === 2) return 'patch';
  throw new Error(`dataset ${ds.kind}: not a token workload (samples of shape [${ds.inputShape.join(', ')}]); the token view needs text, sequence tasks or image patches`);
}

export function tokenRoutingOf(net: Supernet, arch: Arch, ds: Dataset, opts: TokenRoutingOptions): TokenRouting {
  const kind = tokenKindOf(ds);
  const val = ds.val;
  if (opts.offset >= val.n) throw new Error(`offset: ${opts.offset} is past the validation split's ${val.n} samples`);
  const B = Math.min(opts.samples, val.n - opts.offset);
  const T = ds.inputShape[0]!;
  const per = ds.inputShape.reduce((a, b) => a * b, 1);
  const xs = val.x.subarray(opts.offset * per, (opts.offset + B) * per);
  const read = tf.tidy(() => {
    const out = net.apply(tf.tensor(xs, [B, ...ds.inputShape]), arch, { training: false });
    return out.moe.map((r) => {
      if (!r.gates) throw new Error(`${r.layer}: the layer reported no gates (the fused WebGPU route); run the token view on the cpu or wasm backend`);
      const [rows, slots] = r.mask.shape;
      if (rows !== B * T) throw new Error(`${r.layer}: routed ${rows} rows, expected ${B} samples × ${T} tokens`);
      return { layer: r.layer, expertNames: r.expertNames, routing: routedSlots(r.mask.dataSync(), r.gates.dataSync(), rows, slots) };
    });
  });
  const side = kind === 'patch' ? Math.round(Math.sqrt(T)) : 0;
  const size = kind === 'patch' ? Math.round(Math.sqrt(ds.inputShape[1]!)) : 0;
  const sequences = Array.from({ length: B }, (_, b) => {
    const i = opts.offset + b;
    const tokens = Array.from({ length: T }, (_, t) => {
      const id = kind === 'patch' ? t : val.x[i * T + t]!;
      return { id, text: kind === 'patch' ? String(t) : (ds.tokens!.vocab[id] ?? `#${id}`), layers: read.map((l) => l.routing[b * T + t]!) };
    });
    const g = val.groups?.[i];
    const names = ds.tokens?.groupNames;
    const seq: TokenRouting['sequences'][number] = { sample: i, group: g !== undefined && names && names.length > 1 ? (names[g] ?? String(g)) : null, tokens };
    if (kind === 'patch') {
      const P = ds.inputShape[1]!;
      seq.patches = { rows: side, cols: side, size, pixels: Array.from({ length: T }, (_, t) => Array.from(val.x.subarray(i * per + t * P, i * per + (t + 1) * P))) };
    }
    return seq;
  });
  return { runId: opts.runId, arch, split: 'val', tokenKind: kind, layers: read.map(({ layer, expertNames }) => ({ layer, expertNames })), sequences };
}

/** Prompt characters as the run's vocabulary ids (single-character entries; others become <unk>). */
export function encodePrompt(prompt: string, vocab: readonly string[]): { ids: number[]; unknown: string[] } {
  const index = new Map(vocab.map((v, i) => [v, i]));
  const unk = index.get(UNK);
  const unknown = new Set<string>();
  const ids = [...prompt].map((c) => {
    const id = index.get(c);
    if (id !== undefined) return id;
    unknown.add(c);
    if (unk === undefined) throw new Error(`prompt: "${c}" is not in the run's vocabulary, which has no ${UNK}`);
    return unk;
  });
  return { ids, unknown: [...unknown] };
}

/**
 * The subnet's logits at the last position of `context` (a causal model reads only earlier tokens). Each
 * call first yields to the event loop (the host keeps serving other clients during a long generation) and
 * stops once `signal` is aborted.
 */
export function nextTokenLogits(net: Supernet, arch: Arch, signal?: AbortSignal): NextTokenLogits {
  return async (context) => {
    await new Promise((r) => setImmediate(r));
    signal?.throwIfAborted();
    return tf.tidy(() => {
      const out = net.apply(tf.tensor2d([context.map(Number)], [1, context.length]), arch, { training: false });
      return out.logits.slice([context.length - 1, 0], [1, -1]).dataSync() as Float32Array;
    });
  };
}

/**
 * Generation for `run.generate`: the space must be a causal token model (every transformer block causal,
 * a per-position head), else the last position's logits read the future or do not exist.
 */
export async function generateFromPrompt(net: Supernet, req: GenerateRequest, vocab: readonly string[], signal?: AbortSignal): Promise<GenerateResult> {
  const input = net.space.input;
  if (input.kind !== 'tokens') throw new Error(`runId: run "${req.runId}" reads ${input.kind} inputs, not tokens; generation needs a language model`);
  for (const st of net.space.stages) {
    const b = st.block as { type: string; causal?: boolean };
    if (b.type === 'transformer' && !b.causal) throw new Error(`space.stages.${st.id}: a transformer that is not causal cannot generate (it reads later tokens)`);
  }
  const { ids, unknown } = encodePrompt(req.prompt, vocab);
  const eod = vocab.indexOf('<eod>');
  const tokens = await generate(ids, nextTokenLogits(net, req.arch, signal), {
    maxNewTokens: req.maxNewTokens,
    temperature: req.temperature,
    topK: req.topK,
    seed: req.seed,
    contextLength: input.length,
    ...(eod >= 0 ? { stopToken: eod } : {}),
  });
  return { prompt: req.prompt, text: tokens.map((t) => vocab[t] ?? UNK).join(''), tokens, unknownChars: unknown };
}
