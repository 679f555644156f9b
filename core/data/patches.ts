/**
 * Images as sequences of non-overlapping patches (ViT, Dosovitskiy et al., 2021): an H×W×C image becomes
 * (H/p)·(W/p) tokens of p·p·C features, patches in row-major order and each patch's pixels row-major with
 * channels last — einops' `b (h p1) (w p2) c -> b (h w) (p1 p2 c)`, as in lucidrains/vit-pytorch.
 */
import { DatasetError, type Split } from './DatasetContract.js';

export interface PatchShape {
  height: number;
  width: number;
  channels: number;
  patch: number;
}

/** [tokens, features per token] of the patch sequence. */
export function patchSequenceShape(s: PatchShape): [number, number] {
  if (s.height % s.patch !== 0 || s.width % s.patch !== 0) {
    throw new DatasetError(`patch: ${s.patch} does not divide the ${s.height}×${s.width} image`);
  }
  return [(s.height / s.patch) * (s.width / s.patch), s.patch * s.patch * s.channels];
}

/** Reorders each sample of an image split (n × H·W·C, row-major HWC) into patch-sequence order. */
export function toPatchSequences(split: Split, s: PatchShape): Split {
  patchSequenceShape(s);
  const { height: H, width: W, channels: C, patch: p } = s;
  const per = H * W * C;
  if (split.x.length !== split.n * per) throw new DatasetError(`patch: samples hold ${split.x.length / Math.max(1, split.n)} values, not ${H}×${W}×${C}`);
  const x = new Float32Array(split.x.length);
  const across = W / p;
  for (let i = 0; i < split.n; i++) {
    const base = i * per;
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const token = Math.floor(r / p) * across + Math.floor(c / p);
        const within = ((r % p) * p + (c % p)) * C;
        for (let ch = 0; ch < C; ch++) x[base + token * p * p * C + within + ch] = split.x[base + (r * W + c) * C + ch]!;
      }
    }
  }
  return { ...split, x };
}
