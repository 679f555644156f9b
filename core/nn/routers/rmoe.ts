/**
 * RMoE, the layerwise recurrent router (Qiu et al., 2024; schema, defaults and the reference followed in
 * core/space/routing/rmoe.ts). Per layer: x' = x · W_p (W_p [dMax, H], a width-d subnet uses its first d
 * rows), h = GRU(x', h_prev), logits = h · W_r (the router kernel, [H, S] here), then top-k.
 *
 * The GRU cell is torch's (the reference's CustomGRUCell, llama_moe_rnn/rnn.py):
 *   r = σ(x'W_ir + b_ir + h W_hr + b_hr),  z = σ(x'W_iz + b_iz + h W_hz + b_hz),
 *   n = tanh(x'W_in + b_in + r ⊙ (h W_hn + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h,
 * its weights packed as wx [H, 3H], bx [3H], wh [H, 3H], bh [3H] in the column order [r | z | n]. One cell
 * is shared by every RMoE layer of a model with the same H (variables "rmoe.gru<H>.wx|bx|wh|bh", created
 * by the first such layer, which counts and exports them; later layers borrow them). The state h crosses
 * the layers through the per-forward context (ForwardContext.state under "rmoe:<H>"), h_0 = 0.
 *
 * Deviation, stated: the reference initialises every router weight N(0, 0.02²) (Megatron's init_method);
 * here W_p and W_r take the 1/√fan-in scale of the other routers' kernels and the cell torch's GRUCell
 * default U(±1/√H), so a small model's router is not uniform at the start.
 */
import * as tf from '@tensorflow/tfjs';
import type { RMoERouting } from '../../space/routing/rmoe.js';
import { normalInit } from '../init.js';
import { topKMaskTensor } from '../moe/routers.js';
import type { WeightArray } from '../graph/ops.js';
import { plainKernel, type GruWeights, type Router } from './router.js';

/** The GRU cell's weights as tensors (wx [H, 3H], bx [3H], wh [H, 3H], bh [3H], columns [r | z | n]). */
export interface GruTensors {
  wx: tf.Tensor;
  bx: tf.Tensor;
  wh: tf.Tensor;
  bh: tf.Tensor;
}

/** One step of torch's GRU cell: h' from the input x' [T, H] and the state h [T, H]. */
export function gruCell(x: tf.Tensor2D, h: tf.Tensor2D, w: GruTensors): tf.Tensor2D {
  const [T, H] = h.shape;
  const gx = tf.add(tf.matMul(x, w.wx as tf.Tensor2D), w.bx);
  const gh = tf.add(tf.matMul(h, w.wh as tf.Tensor2D), w.bh);
  const part = (t: tf.Tensor, i: number) => t.slice([0, i * H], [T, H]);
  const r = tf.sigmoid(tf.add(part(gx, 0), part(gh, 0)));
  const z = tf.sigmoid(tf.add(part(gx, 1), part(gh, 1)));
  const n = tf.tanh(tf.add(part(gx, 2), tf.mul(r, part(gh, 2))));
  return tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h)) as tf.Tensor2D;
}

/** The key of a GRU chain in the per-forward state (layers of one width H share a cell and a state). */
export const rmoeChain = (hidden: number) => `rmoe:${hidden}`;

interface ChainState {
  h: tf.Tensor2D;
  cell: GruTensors;
}

/**
 * One GRU step of `chain` in a per-forward state map: the previous state of the chain (zeros for its first
 * layer, or when the token count changed), the cell given here or, when null, the one the chain's earlier
 * layer used (the exported layer list carries the shared cell once). Returns and stores the new state.
 */
export function chainStep(state: Map<string, unknown>, chain: string, xp: tf.Tensor2D, cell: GruTensors | null): tf.Tensor2D {
  const prev = state.get(chain) as ChainState | undefined;
  const w = cell ?? prev?.cell;
  if (!w) throw new Error(`${chain}: a layer borrows the GRU cell of an earlier layer of its chain, and there is none`);
  const [T, H] = xp.shape;
  const h0 = prev && prev.h.shape[0] === T ? prev.h : (tf.zeros([T, H]) as tf.Tensor2D);
  const h = gruCell(xp, h0, w);
  state.set(chain, { h, cell: w });
  return h;
}

const GRU_PARTS = ['wx', 'bx', 'wh', 'bh'] as const;

export const rmoe: Router<RMoERouting> = {
  mode: 'rmoe',
  trainsKernel: true,
  fusable: false,
  // logits = h · W_r: the kernel has H rows whatever the input width.
  kernelRows: (r) => r.hidden,
  params: (r, { layer, dMax, store, rng }) => {
    const H = r.hidden;
    const named = store.named();
    const vars: Record<string, tf.Variable> = { proj: store.add(`${layer.name}.moe.rmoe.proj`, normalInit(rng, [dMax, H], 1 / Math.sqrt(dMax))) };
    const borrowed = new Set<string>();
    const bound = 1 / Math.sqrt(H);
    for (const p of GRU_PARTS) {
      const name = `rmoe.gru${H}.${p}`;
      const existing = named.get(name);
      if (existing) {
        vars[p] = existing;
        borrowed.add(p);
        continue;
      }
      const shape = p.startsWith('w') ? [H, 3 * H] : [3 * H];
      const n = shape.reduce((a, b) => a * b, 1);
      vars[p] = store.add(name, tf.tensor(Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * bound), shape));
    }
    return { vars, borrowed };
  },
  logits: (x, kernel, r, { params, ctx }) => {
    const v = params!.vars;
    const [, d] = x.shape;
    const xp = tf.matMul(x, v.proj!.slice([0, 0], [d, r.hidden])) as tf.Tensor2D;
    // Without a per-forward context (a standalone layer), the layer is the first of its chain.
    const h = chainStep(ctx?.state ?? new Map(), rmoeChain(r.hidden), xp, v as unknown as GruTensors);
    return tf.matMul(h, kernel) as tf.Tensor2D;
  },
  paramCount: (r, d, params) => d * r.hidden + (params && params.borrowed.size > 0 ? 0 : 6 * r.hidden * (r.hidden + 1)),
  // Projection 2dH, the cell's two [H, 3H] products 12H² (the read-out is the kernel's 2HS).
  flopsPerToken: (r, d) => 2 * d * r.hidden + 12 * r.hidden * r.hidden,
  activeK: (r, l) => r.k * l.shape.segments,
  select: (probs, r, l) => topKMaskTensor(probs, r.k * l.shape.segments),
  lower: (r, l, kernel, extra) => {
    const v = extra!.params!.vars;
    const H = r.hidden;
    const own = extra!.params!.borrowed.size === 0;
    const part = (p: (typeof GRU_PARTS)[number]): WeightArray => extra!.slice(v[p]!, p.startsWith('w') ? [0, 0] : [0], p.startsWith('w') ? [H, 3 * H] : [3 * H]);
    const gru: GruWeights | null = own ? { wx: part('wx'), bx: part('bx'), wh: part('wh'), bh: part('bh') } : null;
    return {
      gating: { mode: 'topk', k: r.k * l.shape.segments },
      router: plainKernel(kernel),
      recurrent: { chain: rmoeChain(H), proj: extra!.slice(v.proj!, [0, 0], [extra!.d, H]), gru },
    };
  },
};
