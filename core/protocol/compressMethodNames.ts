/**
 * The names of the compression methods (issue 15), with the line the CLI help and the Compress panel
 * show, at the protocol's floor so the schema, the panel and the CLI read them from one place. Each name
 * has exactly one implementing pass, tied by core/compress/registry.ts's `Record<name, …>` type: adding a
 * method is its module, its line here and its registry line.
 */
export const COMPRESS_METHODS = {
  quantize: 'expert quantisation: per-expert, per-channel post-training weight quantisation (Q/DQ in ONNX)',
  'mc-smoe': 'MC-SMoE: merge experts grouped by router-logit similarity (aligned, usage-weighted), then low-rank + sparse',
  stun: 'STUN: expert pruning by router-weight similarity, then Wanda |w|·‖x‖ pruning',
  'sub-moe': 'Sub-MoE: cluster experts by outputs, joint SVD with a shared U, usage-merged V',
  d2moe: 'D²MoE: nested 2/4/8-bit experts sliced from one 8-bit code, widths by expert usage under a mean-bit budget',
  'compressed-experts': 'compressed experts: keep the most used experts, replace the rest by least-squares constant vectors',
  slimmoe: 'SlimMoE: slim every expert to its most important hidden neurons, down projection refit to the full expert (one-shot distillation)',
  eaquant: 'EAQuant: per-channel PTQ of experts and router, router clipping aligned to the full-precision routing (KL)',
} as const;
export type CompressMethodName = keyof typeof COMPRESS_METHODS;
export const COMPRESS_METHOD_NAMES = Object.keys(COMPRESS_METHODS) as [CompressMethodName, ...CompressMethodName[]];
