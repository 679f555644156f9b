/**
 * Peak activation memory of one training step, estimated from shapes alone so validation can refuse a
 * config that cannot fit before a process is started (a 65,536 × 4,096 batch, or a million null
 * experts, used to pass validation and then take the machine down).
 *
 * The model, per training step on the largest subnet (every stage at its deepest, every block at its
 * widest, largest kernel and expert hidden; the sandwich rule trains its subnets one after the other, so
 * the largest one sets the peak):
 * - Forward: every intermediate tensor of the step, counted in float32 elements. tfjs' gradient tape
 *   keeps each op's inputs and output until `variableGrads` has run the backward pass, so they are all
 *   alive at once at the end of the forward pass. The counts follow the ops core/nn runs:
 *   dense: matMul, bias add, activation (and the residual add); conv: the im2col patch matrix
 *   (B·Ho·Wo·k²·Cin, built on the CPU and wasm backends, core/nn/conv.ts), the feature map, BatchNorm's
 *   centred / squared / normalised / scaled / shifted maps (or the bias add), the activation;
 *   MoE (core/nn/moe/MoELayer.ts): ROUTING_TENSORS tensors of [B, S] over all S router slots (null,
 *   zero, copy and constant experts are slots too), the GShard one-hot dispatch matrices (Σ_e n_e × B
 *   for the A = Σ_e n_e token-to-FFN-expert assignments), each expert's gathered input, hidden layer
 *   and output, the combined output per expert, shared experts on every token.
 * - Peak = 2 × forward elements × 4 bytes: on tfjs' CPU backend every recorded op holds about twice
 *   its output while the tape is alive (measured op by op), and the backward pass frees the tape as it
 *   makes gradients, so the end of the forward pass is the peak.
 * - Plus WEIGHT_COPIES copies of the supernet's parameters (slices and gradients), batch-independent.
 * activationMemory.test.ts checks the estimate against tf.profile's peakBytes of a real step.
 * It is an estimate to refuse the impossible, not an allocator.
 */
import { largestArch, validateArch } from './archCodec.js';
import type { ActivationTerm, SampleShape } from './blocks/descriptor.js';
import { describeBlock } from './blocks/registry.js';
import { inputSampleShape, type Arch, type SearchSpace } from './SearchSpace.js';
import { inputShape } from './planSpace.js';
import { supernetParams } from './validateSpace.js';

// Each block type counts its own terms (core/space/blocks/<type>.ts activationTerms); re-exported names.
export type { ActivationTerm } from './blocks/descriptor.js';
export { ffnAssignments, ROUTING_TENSORS } from './blocks/moe.js';

export const BYTES_PER_ELEMENT = 4;
/** Default budget for one step's activations when the host gives none. */
export const DEFAULT_ACTIVATION_BUDGET_BYTES = 4 * 1024 ** 3;

/** The default budget on a machine with this much memory: 4 GiB or half of it, whichever is less. */
export function activationBudgetFor(totalMemoryBytes: number): number {
  return Math.min(DEFAULT_ACTIVATION_BUDGET_BYTES, totalMemoryBytes / 2);
}
/**
 * Copies of the weights one step holds besides the variables: the slices each layer takes (elastic
 * width), their gradients, and the variables' gradients (padded back to full size), plus one in flight.
 */
export const WEIGHT_COPIES = 4;

export interface ActivationEstimate {
  /** Peak bytes of one step: 2 × forward elements × 4, plus weightBytes. */
  bytes: number;
  /** The weight copies a step makes (WEIGHT_COPIES × supernet parameters × 4), independent of the batch. */
  weightBytes: number;
  /** Forward float32 elements, by term. */
  terms: ActivationTerm[];
}

/**
 * The estimate for one step of `arch` (default: the largest subnet, which sets the peak for the
 * strategies that sample subnets; 'plain' trains one fixed arch).
 */
export function estimateActivationMemory(space: SearchSpace, batchSize: number, arch: Arch = largestArch(space)): ActivationEstimate {
  const B = batchSize;
  const hasConv = space.stages.some((st) => describeBlock(st.block).reads.includes('image'));
  const terms: ActivationTerm[] = [];
  const add = (path: string, what: string, elements: number) => terms.push({ path, what, elements });
  const input = space.input;
  add('batchSize', 'input batch', B * inputSampleShape(input).reduce((a, b) => a * b, 1));

  // Walk the subnet's shapes as the supernet runs it (core/nn/Supernet.ts).
  let shape: SampleShape = inputShape(input);
  const toVector = (path: string, what: string) => {
    if (shape.layout !== 'image') return;
    // Global average pooling makes a [B, C] tensor; flattening (no conv stage) is a reshape, no copy.
    if (hasConv) add(path, what, B * shape.width);
    shape = { layout: 'vector', width: hasConv ? shape.width : shape.width * shape.spatial[0] * shape.spatial[1], spatial: [1, 1], length: 1 };
  };
  space.stages.forEach((stage, i) => {
    const b = stage.block;
    const d = describeBlock(b);
    const at = `space.stages[${i}].block`;
    if (!d.reads.includes(shape.layout)) toVector(at, `stages[${i}] pooling`);
    const choices = arch.stages[i]!.blocks.slice(0, arch.stages[i]!.depth);
    choices.forEach((choice, j) => {
      if (choice.op === 'identity') return;
      terms.push(...d.activationTerms(b, choice, shape, { batch: B, at, where: `stages[${i}].b${j}` }));
      shape = d.outShape(b, choice, shape);
    });
  });
  toVector('space.numClasses', 'pooling before the head');
  // Logits (matMul, bias), log-softmax, one-hot labels and their product: per position on a token input
  // (next-token prediction), else per sample (any other sequence is mean-pooled first, one [B, d] tensor).
  const perToken = input.kind === 'tokens';
  if (!perToken && shape.layout === 'sequence') add('space.numClasses', 'token-mean pooling before the head', B * shape.width);
  add('space.numClasses', 'classifier head and loss', 5 * B * (perToken ? shape.length : 1) * space.numClasses);
  const forward = terms.reduce((s, t) => s + t.elements, 0);
  const weights = WEIGHT_COPIES * supernetParams(space) * BYTES_PER_ELEMENT;
  return { bytes: 2 * forward * BYTES_PER_ELEMENT + weights, weightBytes: weights, terms };
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

/**
 * Refusals for a training step that would not fit in `budgetBytes`, with train-config paths: the batch
 * size (every term scales with it) and the field behind the largest term. Empty when it fits.
 */
export function activationMemoryIssues(
  space: SearchSpace,
  batchSize: number,
  budgetBytes: number = DEFAULT_ACTIVATION_BUDGET_BYTES,
  arch?: Arch,
): { path: string; message: string }[] {
  // An arch that is not a subnet of the space is refused elsewhere; bound it by the largest subnet here.
  const given = arch && validateArch(space, arch).length === 0 ? arch : undefined;
  const est = estimateActivationMemory(space, batchSize, given);
  if (est.bytes <= budgetBytes) return [];
  const byPath = new Map<string, ActivationTerm[]>();
  for (const t of est.terms) byPath.set(t.path, [...(byPath.get(t.path) ?? []), t]);
  const sum = (ts: ActivationTerm[]) => ts.reduce((s, t) => s + t.elements, 0);
  const [path, group] = [...byPath].sort((a, b) => sum(b[1]) - sum(a[1]))[0]!;
  const top = group.reduce((a, b) => (b.elements > a.elements ? b : a));
  const share = formatBytes(2 * sum(group) * BYTES_PER_ELEMENT);
  const message =
    `one training step would need about ${formatBytes(est.bytes)} of activation memory at batchSize ${batchSize} ` +
    `(forward + backward, ${given ? 'the given arch' : 'largest subnet'}); the limit is ${formatBytes(budgetBytes)}. ` +
    `Largest share: ${path} with ${share} (${top.what})`;
  const issues = [{ path: 'batchSize', message }];
  if (path !== 'batchSize') issues.push({ path, message: `${share} of the estimated ${formatBytes(est.bytes)} (${top.what})` });
  return issues;
}
