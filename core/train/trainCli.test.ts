import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../host/cli.js';
import { RunStore } from './RunStore.js';
import { parseDataFlag, TrainProgress } from './trainCli.js';
import { captureOutput, REPO_ROOT, runCliProcess } from './runCliProcess.js';
import { runTrainCommand } from './trainCli.js';
import { accuracyEstimate } from '../protocol/accuracyInterval.js';

const repo = REPO_ROOT;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-cli-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const cli = runCliProcess;

describe('switchyard train', () => {
  it('rejects an invalid space file, naming the field path, with a non-zero exit code', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({ name: 'x', input: { kind: 'vector', dim: 2 }, numClasses: 3, stages: [{ id: 's', depth: [1], block: { type: 'moe', experts: 0, expertHidden: [8] } }] }),
    );
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['train', bad])).toBe(2);
      expect(err.mock.calls.flat().join('\n')).toMatch(/bad\.json: stages\[0\]\.block\.experts: /);
      err.mockClear();
      expect(await main(['train', bad, '--steps', 'ten'])).toBe(2);
      expect(err.mock.calls.flat().join('\n')).toMatch(/steps/);
      err.mockClear();
      expect(await main(['train', join(dir, 'missing.json')])).toBe(2);
      expect(err.mock.calls.flat().join('\n')).toMatch(/missing\.json: cannot read \(ENOENT\)/);
    } finally {
      err.mockRestore();
    }
  });

  it('draws a redrawn progress bar with ETA on a TTY and plain lines every 10% otherwise', () => {
    const point = (step: number, extra = {}) => ({ step, time: 0, loss: 0.5, accuracy: 0.75, stepMs: 10, samplesPerSec: 100, etaSec: 90, ...extra });
    const tty = { isTTY: true, text: '', write(s: string) { this.text += s; return true; } };
    const bar = new TrainProgress(100, tty as never);
    // Validation shows its split, sample count and 95 % interval: 800/1000 → Wilson [0.774, 0.824].
    bar.update(point(50, { valAccuracy: 0.8, valSamples: 1000 }));
    expect(tty.text).toBe('\r[############............]  50%  step 50/100  loss 0.5000  acc 0.750  val 80.0 % ± 2.5 (val, n=1000)  ETA 1m30s\x1b[K');
    const pipe = { isTTY: false, text: '', write(s: string) { this.text += s; return true; } };
    const lines = new TrainProgress(100, pipe as never);
    for (let i = 1; i <= 100; i++) lines.update(point(i));
    expect(pipe.text.trim().split('\n')).toHaveLength(11);
  });

  it('maps --data to a dataset config that fits the space', () => {
    const space2d = { input: { kind: 'vector', dim: 2 }, numClasses: 5 } as never;
    expect(parseDataFlag(undefined, space2d, {})).toMatchObject({ kind: 'spirals', classes: 5 });
    expect(parseDataFlag('gaussians', space2d, { seed: 4 })).toMatchObject({ kind: 'gaussians', classes: 5, seed: 4 });
    const flat = { input: { kind: 'vector', dim: 784 }, numClasses: 10 } as never;
    expect(parseDataFlag('fashion-mnist:/data/fm', flat, { limit: 10 })).toEqual({ kind: 'fashion-mnist', dir: '/data/fm', limit: 10, flatten: true });
    expect(() => parseDataFlag('cifar', flat, {})).toThrow(/--data: unknown dataset "cifar"/);
  });

  it('ends with validation and test accuracy of the scored subnet, each with split, n and 95 % interval', async () => {
    const runs = join(dir, 'runs-report');
    const spaceFile = join(dir, 'tiny-2d-report.json');
    await writeFile(spaceFile, JSON.stringify(TINY_2D));
    // Wilson intervals: 5128/6000 → [0.8455, 0.8634], 8444/10000 → [0.8372, 0.8514] (scipy's binomtest
    // proportion_ci 'wilson'); the line shows the half-width in points.
    const val = accuracyEstimate('val', 5128 / 6000, 6000);
    const test = accuracyEstimate('test', 0.8444, 10000);
    expect(val.ci95[0]).toBeCloseTo(0.8455219922021993, 12);
    expect(test.ci95[1]).toBeCloseTo(0.8513720111966381, 12);
    const c = captureOutput();
    const code = await runTrainCommand([spaceFile, '--data', 'gaussians', '--steps', '10', '--backend', 'cpu', '--runs-dir', runs], {
      execute: async (opts) => {
        const rec = await opts.store.readRecord(opts.runId);
        return { summary: { ...rec.summary, status: 'completed', step: 10, finalVal: val }, result: null, testAccuracy: test.accuracy, test };
      },
    });
    c.restore();
    expect(code, c.text()).toBe(0);
    expect(c.text()).toContain('validation accuracy of the largest subnet 85.5 % ± 0.9 (val, n=6000)');
    expect(c.text()).toContain('test accuracy of the largest subnet 84.4 % ± 0.7 (test, n=10000)');
  });

  it('stops on SIGINT with a checkpoint (exit 130) and --resume finishes the run', async () => {
    const runs = join(dir, 'runs-resume');
    const spaceFile = join(dir, 'tiny-2d.json');
    await writeFile(spaceFile, JSON.stringify(TINY_2D));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repo, 'core/host/cliMain.ts'), 'train', spaceFile, '--data', 'gaussians', '--steps', '100000',
        '--batch', '16', '--checkpoint-every', '50', '--eval-every', '1000', '--backend', 'cpu', '--runs-dir', runs],
      { cwd: repo },
    );
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        // non-TTY progress prints a line per 10% and per validation: the first validation is at step 1000
        if (/step 1000\//.test(stderr)) child.kill('SIGINT');
      });
      child.on('close', resolve);
    });
    expect(code, stderr).toBe(130);
    const runId = /--resume (\S+)/.exec(stdout)![1]!;
    const store = new RunStore(runs);
    const rec = await store.readRecord(runId);
    expect(rec.summary.status).toBe('stopped');
    const stoppedAt = (await store.loadLatestCheckpoint(runId))!.meta.step;
    expect(stoppedAt).toBeGreaterThanOrEqual(1000);
    expect(rec.summary.step).toBe(stoppedAt);
    // shorten the run so the resume ends quickly (the config on disk is what --resume continues)
    rec.config.steps = stoppedAt + 30;
    await store.writeRecord(rec);
    const r = await cli(['train', '--resume', runId, '--runs-dir', runs, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ status: 'completed', step: stoppedAt + 30 });
    const steps = (await store.readMetrics(runId)).map((p) => p.step);
    expect(steps).toEqual(Array.from({ length: stoppedAt + 30 }, (_, i) => i + 1));
  });
});

const TINY_2D = {
  name: 'tiny 2-D MLP',
  input: { kind: 'vector', dim: 2 },
  numClasses: 3,
  stages: [{ id: 's1', depth: [1], block: { type: 'dense', width: [8, 16] } }],
};
