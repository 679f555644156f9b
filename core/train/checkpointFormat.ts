/**
 * Binary checkpoint file: magic "SYCK", format version (uint32 LE), header length (uint32 LE), the
 * SHA-256 of everything after it (32 bytes; format 2), a UTF-8 JSON header (step, RNG and data-iterator
 * state, optimizer counters, and where each array lies), zero padding to an 8-byte boundary, then the
 * raw little-endian arrays back to back. Variables travel as bytes, not JSON numbers, so a restored
 * supernet is bit-identical; the checksum turns a damaged file (bit rot, a torn copy, 4 KB of 0xFF)
 * into an error naming the file instead of NaN weights. Format 1 files (no checksum) still load.
 */
import { createHash } from 'node:crypto';
import type { BatchIteratorState } from '../data/BatchIterator.js';

export const CHECKPOINT_MAGIC = 'SYCK';
export const CHECKPOINT_VERSION = 2;
const DIGEST_BYTES = 32;

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
  /** The training strategy's own state (JSON; core/train/strategies/TrainingStrategy.ts), when it keeps one. */
  strategyState?: unknown;
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
  const headerStart = 12 + DIGEST_BYTES;
  const dataStart = align8(headerStart + json.length);
  const out = new Uint8Array(dataStart + offset);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, CHECKPOINT_VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, headerStart);
  let pos = dataStart;
  for (const a of [...ckpt.variables, ...ckpt.optimizerSlots]) {
    const bytes = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  out.set(sha256(out.subarray(headerStart)), 12);
  return out;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

/** Thrown when a file is not a whole, intact checkpoint; the message names the file and what is wrong. */
export class CheckpointDamagedError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'CheckpointDamagedError';
  }
}

export function decodeCheckpoint(buf: Uint8Array, file = 'checkpoint'): Checkpoint {
  const damaged = (reason: string) => new CheckpointDamagedError(file, reason);
  if (buf.byteLength < 12) throw damaged(`too short for a checkpoint (${buf.byteLength} bytes)`);
  const magic = new TextDecoder().decode(buf.subarray(0, 4));
  if (magic !== CHECKPOINT_MAGIC) throw damaged(`not a Switchyard checkpoint (magic "${magic}")`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = view.getUint32(4, true);
  if (version !== 1 && version !== CHECKPOINT_VERSION) throw damaged(`checkpoint format ${version} is not supported (a newer Switchyard, or damage)`);
  const jsonLen = view.getUint32(8, true);
  const headerStart = version === 1 ? 12 : 12 + DIGEST_BYTES;
  if (headerStart + jsonLen > buf.byteLength) throw damaged(`header runs past the end (${buf.byteLength} bytes)`);
  if (version >= 2) {
    const stored = Buffer.from(buf.buffer, buf.byteOffset + 12, DIGEST_BYTES);
    const actual = sha256(buf.subarray(headerStart));
    if (!actual.equals(stored)) {
      throw damaged(`checksum mismatch (SHA-256 ${actual.toString('hex').slice(0, 16)}…, recorded ${stored.toString('hex').slice(0, 16)}…): the file is damaged`);
    }
  }
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(headerStart, headerStart + jsonLen))) as Header;
  } catch (e) {
    throw damaged(`header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = align8(headerStart + jsonLen);
  const read = (e: ArrayEntry): NamedArray => {
    const start = buf.byteOffset + dataStart + e.offset;
    if (dataStart + e.offset + e.length * 4 > buf.byteLength) throw damaged(`array ${e.name} runs past the end`);
    // Copy into a fresh, aligned buffer (the file buffer's offset may not be 4-aligned).
    const bytes = buf.buffer.slice(start, start + e.length * 4);
    const data = e.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
    return { name: e.name, shape: e.shape, dtype: e.dtype, data };
  };
  const variables = header.variables.map(read);
  // A checksum says the bytes are the ones written; weights that are not finite (a format-1 file's
  // damage, or a run that diverged before the save) cannot be trained or exported either.
  for (const v of variables) {
    let bad = 0;
    if (v.dtype === 'float32') for (const x of v.data) if (!Number.isFinite(x)) bad++;
    if (bad) throw damaged(`variable "${v.name}" holds ${bad} non-finite value${bad === 1 ? '' : 's'}`);
  }
  return { meta: header.meta, variables, optimizerSlots: header.optimizerSlots.map(read) };
}
