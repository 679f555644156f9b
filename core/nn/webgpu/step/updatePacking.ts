/**
 * Several variables' optimizer updates in one kernel, as far as WebGPU's 8 storage buffers per kernel
 * allow: an update site binds the weight and its slots (./update.ts: SGD 1 buffer, momentum 2, Adam 4),
 * so one kernel can update 7 SGD variables beside one input buffer but only one Adam variable. The issue's
 * lever "one optimizer update over all of a subnet's variables" within that limit: a layer's weight and
 * bias gradients (or a layer norm's γ and β) share a dispatch where the optimizer's slots leave room.
 */
import type * as tf from '@tensorflow/tfjs';
import type { StepCompiler } from './compiler.js';
import type { Binding } from './program.js';
import type { UpdateSite } from './update.js';

const STORAGE_PER_KERNEL = 8;

const storageOf = (bs: readonly Binding[]) => new Set(bs.filter((b) => b.access !== 'uniform').map((b) => b.name)).size;

/** Bindings by name, first occurrence kept (the sites share the step values `sv`). */
export function uniqueBindings(bs: readonly Binding[]): Binding[] {
  const seen = new Set<string>();
  return bs.filter((b) => (seen.has(b.name) ? false : (seen.add(b.name), true)));
}

/** The bindings `code` names (layout 'auto' drops unused ones: a kernel may bind only those it reads). */
export function usedBindings(bs: readonly Binding[], code: string): Binding[] {
  return bs.filter((b) => new RegExp(`\\b${b.name}\\b`).test(code));
}

/**
 * The update sites of `variables` (prefixes u0, u1, … in order) in consecutive groups, each of which fits
 * one kernel beside `inputs`: [[index into variables, site], …] per kernel.
 */
export function packUpdateSites(c: StepCompiler, variables: readonly tf.Variable[], inputs: readonly Binding[]): [number, UpdateSite][][] {
  const budget = STORAGE_PER_KERNEL - storageOf(inputs);
  const out: [number, UpdateSite][][] = [];
  let cur: [number, UpdateSite][] = [];
  let used = 0;
  variables.forEach((v, i) => {
    const site = c.update(v, `u${i}`);
    const need = storageOf(site.bindings);
    if (need > budget) throw new Error(`compiled step: ${v.name}'s update needs ${need} storage buffers beside ${STORAGE_PER_KERNEL - budget} inputs`);
    if (used + need > budget) {
      out.push(cur);
      cur = [];
      used = 0;
    }
    cur.push([i, site]);
    used += need;
  });
  if (cur.length > 0) out.push(cur);
  return out;
}
