/**
 * Binary checkpoint file: magic "SYCK", format version (uint32 LE), header length (uint32 LE), a UTF-8
 * JSON header (step, RNG and data-iterator state, optimizer counters, and where each array lies), zero
 * padding to an 8-byte boundary, then the raw little-endian arrays back to back. Variables travel as
 * bytes, not JSON numbers, so a restored supernet is bit-identical.
 */
import type { BatchIteratorState } from '../data/BatchIterator.js';

export const CHECKPOINT_MAGIC = 'SYCK';
export const CHECKPOINT_VERSION = 1;

export type ArrayDType = 'float32' | 'int32';

export interface NamedArray {
  name: string;
  shape: number[];
  dtype: ArrayDType;
  data: Float32Array | Int32Array;
}

export interface CheckpointMeta {
  step: number;
  /** Training seconds so far (excluding time the run was stopped). */
  elapsedSec: number;
  /** State of the sampler's RNG (which subnet each step trains). */
  samplerRngState: number;
  data: BatchIteratorState;
  /** Optimizer counters (per-variable update counts etc.), opaque to the store. */
  optimizer: unknown;
  /** Best validation accuracy so far, so the summary survives a resume. */
  bestValAccuracy: number | null;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  /** Every supernet variable by stable name. */
  variables: NamedArray[];
  /** Optimizer slot arrays (e.g. Adam moments) by name. */
  optimizerSlots: NamedArray[];
}

interface ArrayEntry {
  name: string;
  shape: number[];
  dtype: ArrayDType;
  offset: number;
  length: number;
}

interface Header {
  meta: CheckpointMeta;
  variables: ArrayEntry[];
  optimizerSlots: ArrayEntry[];
}

const align8 = (n: number) => (n + 7) & ~7;

export function encodeCheckpoint(ckpt: Checkpoint): Uint8Array {
  let offset = 0;
  const entries = (arrays: NamedArray[]) =>
    arrays.map((a) => {
      const e = { name: a.name, shape: a.shape, dtype: a.dtype, offset, length: a.data.length };
      offset += a.data.length * 4;
      return e;
    });
  const header: Header = { meta: ckpt.meta, variables: entries(ckpt.variables), optimizerSlots: entries(ckpt.optimizerSlots) };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align8(12 + json.length);
  const out = new Uint8Array(dataStart + offset);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, CHECKPOINT_VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  let pos = dataStart;
  for (const a of [...ckpt.variables, ...ckpt.optimizerSlots]) {
    const bytes = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}

export function decodeCheckpoint(buf: Uint8Array, file = 'checkpoint'): Checkpoint {
  const magic = new TextDecoder().decode(buf.subarray(0, 4));
  if (magic !== CHECKPOINT_MAGIC) throw new Error(`${file}: not a Switchyard checkpoint (magic "${magic}")`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = view.getUint32(4, true);
  if (version !== CHECKPOINT_VERSION) throw new Error(`${file}: checkpoint format ${version} is not supported`);
  const jsonLen = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + jsonLen))) as Header;
  const dataStart = align8(12 + jsonLen);
  const read = (e: ArrayEntry): NamedArray => {
    const start = buf.byteOffset + dataStart + e.offset;
    if (dataStart + e.offset + e.length * 4 > buf.byteLength) throw new Error(`${file}: array ${e.name} runs past the end`);
    // Copy into a fresh, aligned buffer (the file buffer's offset may not be 4-aligned).
    const bytes = buf.buffer.slice(start, start + e.length * 4);
    const data = e.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
    return { name: e.name, shape: e.shape, dtype: e.dtype, data };
  };
  return { meta: header.meta, variables: header.variables.map(read), optimizerSlots: header.optimizerSlots.map(read) };
}
