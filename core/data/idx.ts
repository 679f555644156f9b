/**
 * Reader for the IDX format of (Fashion-)MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * number (two zero bytes, a type code, the number of dimensions), big-endian uint32 sizes, then the data.
 */
import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { DatasetError } from './Dataset.js';

const gunzipAsync = promisify(gunzip);

/** Type code of unsigned bytes, the only one (Fashion-)MNIST uses. */
const IDX_UBYTE = 0x08;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parse an uncompressed IDX buffer; `expectDims` is the required number of dimensions. */
export function parseIdx(buf: Uint8Array, file: string, expectDims: number): IdxArray {
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
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + size) {
    throw new DatasetError(
      `${file}: IDX sizes [${dims.join(', ')}] need ${header + size} bytes but the file holds ${buf.length}`,
    );
  }
  return { dims, data: buf.subarray(header) };
}

/** Read and gunzip an IDX .gz file; errors name the file. */
export async function readIdxGz(file: string, expectDims: number): Promise<IdxArray> {
  let gz: Buffer;
  try {
    gz = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatasetError(code === 'ENOENT' ? `${file}: file not found` : `${file}: cannot read (${code ?? String(e)})`);
  }
  let raw: Buffer;
  try {
    raw = await gunzipAsync(gz);
  } catch (e) {
    throw new DatasetError(`${file}: not a valid gzip file (${(e as Error).message})`);
  }
  return parseIdx(raw, file, expectDims);
}
