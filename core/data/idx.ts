/**
 * Reader for the IDX format of (Fashion-)MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * number (two zero bytes, a type code, the number of dimensions), big-endian uint32 sizes, then the data.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { DatasetError } from './DatasetContract.js';

/** Type code of unsigned bytes, the only one (Fashion-)MNIST uses. */
const IDX_UBYTE = 0x08;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parse an uncompressed IDX buffer; `expectDims` is the required number of dimensions. With
 * `maxItems`, the buffer may hold just the first items (a prefix read); dims[0] is then cut to them.
 */
export function parseIdx(buf: Uint8Array, file: string, expectDims: number, maxItems = 0): IdxArray {
  if (buf.length < 4) throw new DatasetError(`${file}: too short to be an IDX file (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== IDX_UBYTE || buf[3] !== expectDims) {
    const magic = view.getUint32(0).toString(16).padStart(8, '0');
    const want = (0x800 + expectDims).toString(16).padStart(8, '0');
    throw new DatasetError(`${file}: bad IDX magic number 0x${magic} (expected 0x${want}: unsigned bytes, ${expectDims}-D)`);
  }
  const header = 4 + 4 * expectDims;
  if (buf.length < header) throw new DatasetError(`${file}: truncated IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < expectDims; i++) dims.push(view.getUint32(4 + 4 * i));
  if (maxItems > 0 && maxItems < dims[0]!) {
    const itemSize = dims.slice(1).reduce((a, b) => a * b, 1);
    if (buf.length < header + maxItems * itemSize) {
      throw new DatasetError(`${file}: IDX data ends after ${buf.length} bytes, before item ${maxItems}`);
    }
    dims[0] = maxItems;
    return { dims, data: buf.subarray(header, header + maxItems * itemSize) };
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + size) {
    throw new DatasetError(
      `${file}: IDX sizes [${dims.join(', ')}] need ${header + size} bytes but the file holds ${buf.length}`,
    );
  }
  return { dims, data: buf.subarray(header) };
}

/**
 * Read and gunzip an IDX .gz file; errors name the file. With `maxItems` only the prefix holding the
 * first items is decompressed (the 60k training images are 47 MB unpacked; a quick run needs a few).
 */
export async function readIdxGz(file: string, expectDims: number, maxItems = 0): Promise<IdxArray> {
  const raw = await gunzipPrefix(file, maxItems <= 0 ? null : (head) => {
    if (head.length < 4 + 4 * expectDims) return null; // header not there yet
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    let item = 1;
    for (let i = 1; i < expectDims; i++) item *= view.getUint32(4 + 4 * i);
    return 4 + 4 * expectDims + maxItems * item;
  });
  return parseIdx(raw, file, expectDims, maxItems);
}

/** Decompress until `need(head)` bytes are there (null `need`: the whole file). */
function gunzipPrefix(file: string, need: ((head: Buffer) => number | null) | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const src = createReadStream(file);
    const gz = createGunzip();
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      src.destroy();
      gz.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, length));
    };
    src.on('error', (e: NodeJS.ErrnoException) =>
      finish(new DatasetError(e.code === 'ENOENT' ? `${file}: file not found` : `${file}: cannot read (${e.code ?? e.message})`)),
    );
    gz.on('error', (e) => finish(new DatasetError(`${file}: not a valid gzip file (${e.message})`)));
    let target: number | null = need ? null : Infinity;
    gz.on('data', (c: Buffer) => {
      chunks.push(c);
      length += c.length;
      // The header decides how much is needed; it is in the first chunk or two.
      if (target === null) {
        target = need!(chunks.length === 1 ? c : Buffer.concat(chunks, length));
      }
      if (target !== null && length >= target) finish(null);
    });
    gz.on('end', () => finish(null));
    src.pipe(gz);
  });
}
