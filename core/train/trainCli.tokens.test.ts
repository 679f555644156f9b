/**
 * The three token workloads of issue 12 train from the CLI on the CPU backend (a few steps each, with the
 * example spaces as shipped): the character LM on the Debian fortunes, the hidden-task sequence tasks, and
 * Fashion-MNIST as patch sequences (a 300-image IDX copy, so the final test pass stays small).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR } from '../data/fashionMnist.js';
import { FORTUNES_DIR } from '../data/textCorpus.js';
import { REPO_ROOT, runCliProcess } from './runCliProcess.js';
import { RunStore } from './RunStore.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-cli-tok-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const example = (id: string) => join(REPO_ROOT, 'assets', 'spaces', `${id}.json`);

/** The real CLI in a child process (as the Fashion-MNIST CLI test), its last JSON line parsed. */
async function train(args: string[]): Promise<{ code: number | null; out: Record<string, unknown>; text: string }> {
  const r = await runCliProcess(['train', ...args, '--backend', 'cpu', '--strategy', 'spos', '--runs-dir', join(dir, 'runs'), '--json']);
  const last = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  return { code: r.code, out: last ? JSON.parse(last) : {}, text: r.stderr };
}

/** The first n images and labels of an IDX .gz pair (header + n items), so a test set of n. */
async function idxHead(src: string, dst: string, n: number, itemBytes: number, headerBytes: number): Promise<void> {
  const buf = gunzipSync(await readFile(src));
  const head = Buffer.from(buf.subarray(0, headerBytes));
  head.writeUInt32BE(n, 4);
  await writeFile(dst, gzipSync(Buffer.concat([head, buf.subarray(headerBytes, headerBytes + n * itemBytes)])));
}

describe('switchyard train on token workloads', () => {
  it.skipIf(!existsSync(FORTUNES_DIR))('char LM on the fortunes: per-token validation in bits per character beside the unigram baseline', async () => {
    const r = await train([example('char-lm-fortunes'), '--data', 'text', '--limit', '1500', '--steps', '2', '--batch', '2', '--grad-clip', '1', '--warmup', '1', '--eval-every', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.out).toMatchObject({ status: 'completed', step: 2 });
    const tokens = r.out.tokens as { split: string; bitsPerToken: number; perplexity: number; n: number; unigramBitsPerToken: number };
    // Every validation target is scored: 1500 characters cut into windows of 64 + 1 → 23 windows · 64.
    expect(tokens).toMatchObject({ split: 'val', n: 23 * 64 });
    expect(tokens.perplexity).toBeCloseTo(2 ** tokens.bitsPerToken, 6);
    expect(tokens.unigramBitsPerToken).toBeGreaterThan(4);
    const summary = (await new RunStore(join(dir, 'runs')).readRecord(r.out.runId as string)).summary;
    expect(summary.finalTokens).toEqual(tokens);
  }, 600_000);

  it('sequence tasks: trains, and scores only the answer positions', async () => {
    const r = await train([example('sequence-tasks-moe'), '--data', 'sequence-tasks', '--limit', '300', '--steps', '2', '--batch', '4', '--eval-every', '2']);
    expect(r.code, r.text).toBe(0);
    const tokens = r.out.tokens as { n: number };
    // 300 samples, 10 % validation: 30 samples × 8 answer positions (the prompt carries no loss).
    expect(tokens.n).toBe(30 * 8);
    expect(r.out.test).toMatchObject({ split: 'test', n: 30 * 8 });
  }, 600_000);

  it.skipIf(!existsSync(FASHION_MNIST_DIR))('Fashion-MNIST ViT: 16 patches of 7×7 from the space, one prediction per image', async () => {
    const fm = join(dir, 'fm');
    await import('node:fs/promises').then((fs) => fs.mkdir(fm));
    for (const split of ['train', 't10k'] as const) {
      await idxHead(join(FASHION_MNIST_DIR, `${split}-images-idx3-ubyte.gz`), join(fm, `${split}-images-idx3-ubyte.gz`), 300, 784, 16);
      await idxHead(join(FASHION_MNIST_DIR, `${split}-labels-idx1-ubyte.gz`), join(fm, `${split}-labels-idx1-ubyte.gz`), 300, 1, 8);
    }
    const r = await train([example('fashion-vit-moe'), '--data', `fashion-mnist:${fm}`, '--steps', '2', '--batch', '8', '--eval-every', '2']);
    expect(r.code, r.text).toBe(0);
    expect(r.out).toMatchObject({ status: 'completed' });
    expect(r.out.test).toMatchObject({ split: 'test', n: 300 });
    expect(r.out.tokens).toBeUndefined();
  }, 600_000);
});
