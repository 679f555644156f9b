import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from './Dataset.js';
import { parseIdx, readIdxGz } from './idx.js';

/** Build an IDX buffer: magic (0,0,8,ndims), big-endian sizes, bytes. */
function idx(dims: number[], data: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-idx-'));
  // Three 28×28 training images whose pixels are all i*100, labels 2, 7, 9; two test images.
  const img = (n: number) => Array.from({ length: n * 784 }, (_, k) => Math.floor(k / 784) * 100);
  await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx([3, 28, 28], img(3))));
  await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([3], [2, 7, 9])));
  await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([2, 28, 28], img(2))));
  await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([2], [0, 1])));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('IDX reader', () => {
  it('parses dims and data of a tiny file', () => {
    const r = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]), 'x', 2);
    expect(r.dims).toEqual([2, 3]);
    expect([...r.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects a bad magic number, naming the file', () => {
    const b = idx([2], [1, 2]);
    b[2] = 0x0d; // float type code
    expect(() => parseIdx(b, 'labels.gz', 1)).toThrow(/labels\.gz: bad IDX magic number 0x00000d01/);
    expect(() => parseIdx(idx([2], [1, 2]), 'imgs.gz', 3)).toThrow(/imgs\.gz: bad IDX magic/);
  });

  it('rejects sizes that disagree with the data length', () => {
    expect(() => parseIdx(idx([3], [1, 2]), 'short.gz', 1)).toThrow(/short\.gz: IDX sizes \[3\] need 11 bytes but the file holds 10/);
  });

  it('names a missing file and a file that is not gzip', async () => {
    await expect(readIdxGz(join(dir, 'nope.gz'), 1)).rejects.toThrow(/nope\.gz: file not found/);
    const bad = join(dir, 'bad.gz');
    await writeFile(bad, 'hello');
    await expect(readIdxGz(bad, 1)).rejects.toThrow(/bad\.gz: not a valid gzip file/);
  });

  it('loads Fashion-MNIST-shaped files: scaled to [0,1], limit honoured, flatten', async () => {
    const ds = await loadDataset({ kind: 'fashion-mnist', dir, limit: 2, flatten: false });
    // The validation split is carved out of the (limited) training images.
    expect(ds.train.n + ds.val.n).toBe(2);
    expect(ds.test.n).toBe(2);
    expect(ds.inputShape).toEqual([28, 28, 1]);
    // The first two images (labels 2 and 7, pixels 0 and 100), scaled to [0,1], whichever split each went to.
    const picked = [ds.train, ds.val].flatMap((sp) => Array.from(sp.y, (y, i) => [y, sp.x[i * 784]!] as const));
    picked.sort((p, q) => p[0] - q[0]);
    expect(picked.map((p) => p[0])).toEqual([2, 7]);
    expect(picked[0]![1]).toBe(0);
    expect(picked[1]![1]).toBeCloseTo(100 / 255, 6);
    expect([...ds.test.y]).toEqual([0, 1]);
    expect(ds.test.x[784]).toBeCloseTo(100 / 255, 6);
    expect(ds.classNames[9]).toBe('Ankle boot');
    const flat = await loadDataset(
      { kind: 'fashion-mnist', dir, limit: 0, flatten: false },
      { input: { kind: 'vector', dim: 784 } },
    );
    expect(flat.inputShape).toEqual([784]);
    expect(flat.train.n + flat.val.n).toBe(3);
  });

  it('a missing dataset folder names the file it looked for', async () => {
    await expect(loadDataset({ kind: 'fashion-mnist', dir: join(dir, 'absent'), limit: 0, flatten: true })).rejects.toThrow(
      /absent\/(train|t10k)-(images|labels)-idx[13]-ubyte\.gz: file not found/,
    );
  });
});

describe('IDX prefix reads', () => {
  it('reads only the first items of a large file, and rejects a prefix that is too short', async () => {
    const n = 5000;
    const file = join(dir, 'big-idx1.gz');
    await writeFile(file, gzipSync(idx([n, 40], Array.from({ length: n * 40 }, (_, k) => Math.floor(k / 40) % 256))));
    const r = await readIdxGz(file, 2, 3);
    expect(r.dims).toEqual([3, 40]);
    expect(r.data.length).toBe(120);
    expect(r.data[80]).toBe(2);
    const all = await readIdxGz(file, 2);
    expect(all.dims).toEqual([n, 40]);
    expect(all.data[40 * 4999]).toBe(4999 % 256);
    const cut = idx([10, 4], Array.from({ length: 40 }, () => 1)).subarray(0, 20);
    expect(() => parseIdx(cut, 'cut.gz', 2, 5)).toThrow(/cut\.gz: IDX data ends after 20 bytes, before item 5/);
  });
});
