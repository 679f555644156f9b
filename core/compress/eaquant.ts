/**
 * EAQuant's router-logit distribution alignment (Fu et al. 2025, "EAQuant: Enhancing Post-Training
 * Quantization for MoE Models via Expert-Aware Optimization", §3.2; code darren-fzq/EAQuant): the router
 * is quantised so that its expert distribution on calibration tokens stays close to the full-precision
 * one, i.e. min KL(softmax(x·W + b) ‖ softmax(x·Q(W) + b)) rather than the weight error. Here the free
 * parameters are the per-expert clipping ratios of the router's per-channel steps, found by coordinate
 * descent over a grid (α = 1 is plain min-max PTQ, so the result is never worse on calibration data).
 * Deviation: EAQuant learns clipping/rotation jointly by gradient with the KL term added to the layer
 * loss, and adds expert-aware smoothing and calibration balancing; those are not implemented.
 */
import { denseForward, type DenseMatrix } from './matrix.js';
import { dequantizeKernel, quantizeKernel, type QuantizedKernel } from './quantize.js';

export const CLIP_GRID = [1, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1] as const;

/** Mean over tokens of KL(softmax(p) ‖ softmax(q)) for logits [n, S]. */
export function meanRouterKL(p: ArrayLike<number>, q: ArrayLike<number>, n: number, S: number): number {
  let total = 0;
  for (let t = 0; t < n; t++) {
    let mp = -Infinity;
    let mq = -Infinity;
    for (let s = 0; s < S; s++) {
      mp = Math.max(mp, p[t * S + s]!);
      mq = Math.max(mq, q[t * S + s]!);
    }
    let zp = 0;
    let zq = 0;
    for (let s = 0; s < S; s++) {
      zp += Math.exp(p[t * S + s]! - mp);
      zq += Math.exp(q[t * S + s]! - mq);
    }
    const lzp = Math.log(zp) + mp;
    const lzq = Math.log(zq) + mq;
    for (let s = 0; s < S; s++) {
      const lp = p[t * S + s]! - lzp;
      const lq = q[t * S + s]! - lzq;
      total += Math.exp(lp) * (lp - lq);
    }
  }
  return total / n;
}

export interface AlignedRouter {
  quant: QuantizedKernel;
  clip: number[];
  /** Calibration KL with the aligned clipping, and with plain min-max (α = 1). */
  kl: number;
  klPlain: number;
}

export function alignRouterQuantization(router: DenseMatrix, x: ArrayLike<number>, n: number, bits: number, sweeps = 2): AlignedRouter {
  const S = router.outDim;
  const fp = denseForward(x, n, router);
  const klOf = (clip: number[]) => {
    const q = quantizeKernel(router.kernel, router.inDim, S, bits, clip);
    return meanRouterKL(fp, denseForward(x, n, { ...router, kernel: dequantizeKernel(q) }), n, S);
  };
  const clip = new Array<number>(S).fill(1);
  const klPlain = klOf(clip);
  let best = klPlain;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    for (let s = 0; s < S; s++) {
      for (const a of CLIP_GRID) {
        if (a === clip[s]) continue;
        const trial = clip.slice();
        trial[s] = a;
        const kl = klOf(trial);
        if (kl < best - 1e-12) {
          best = kl;
          clip[s] = a;
        }
      }
    }
  }
  return { quant: quantizeKernel(router.kernel, router.inDim, S, bits, clip), clip, kl: best, klPlain };
}
