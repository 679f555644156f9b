/**
 * Issue 17 in the browser: `switchyard serve --redis URL` with two `switchyard worker` processes on a
 * throwaway redis-server. A run started from the UI becomes a job; the run list shows the job's state
 * and the worker training it, and the dashboard's curves grow from the events the worker sends back
 * over BullMQ. Skipped (with the reason) where redis-server is not installed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerMissing, startRedis, startWorkerProcess, type TestRedis, type TestWorker } from '../core/queue/testRedis.js';
import { launchBrowser, numericAttr, ROOT, screenshot, startServe, waitFor, type BrowserSession, type Served, waitForConnection } from './harness.js';

const missing = redisServerMissing();
if (missing) console.warn(`e2e/jobQueue.e2e.ts: ${missing}`);

describe.skipIf(missing !== null)('job queue in the browser (serve --redis, two workers)', () => {
  let redis: TestRedis;
  let served: Served;
  let session: BrowserSession;
  let page: Page;
  let runsDir = '';
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    runsDir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-queue-'));
    const cli = [join(ROOT, 'bin', 'switchyard.mjs')];
    workers.push(startWorkerProcess({ redisUrl: redis.url, runsDir, name: 'gpu-box', cli }), startWorkerProcess({ redisUrl: redis.url, runsDir, name: 'cpu-box', cli }));
    served = await startServe({ runsDir, extraArgs: ['--redis', redis.url] });
    session = await launchBrowser();
    page = session.page;
    await page.goto(served.url);
  });

  afterAll(async () => {
    await session?.close();
    await served?.stop();
    await Promise.allSettled(workers.map((w) => w.stop()));
    await redis?.stop();
    if (runsDir) rmSync(runsDir, { recursive: true, force: true });
  });

  it('a run from the UI trains as a job: the run list names its worker and job state, the curves grow', async () => {
    await page.getByTestId('app-shell').waitFor();
    await waitForConnection(page);
    await page.getByTestId('space-new').click();
    await page.getByTestId('add-stage-moe').click();
    await page.getByTestId('tab-runs').click();
    await page.getByTestId('launch-dataset').selectOption('spirals');
    await page.getByTestId('launch-steps').fill('150');
    await page.getByTestId('launch-batch').fill('32');
    await page.getByTestId('launch-eval-every').fill('50');
    await page.getByTestId('run-start').click();
    await page.getByTestId('dashboard').waitFor();

    const job = page.locator('[data-testid^="run-job-"]').first();
    await job.waitFor({ timeout: 30_000 });
    // Active on one of the two workers, named in the list.
    const active = await waitFor(async () => {
      const t = (await job.textContent({ timeout: 1000 })) ?? '';
      return /job active on (gpu-box|cpu-box)/.test(t) ? t : null;
    }, 'the job active on a worker', 90_000);
    expect(active).toMatch(/on (gpu-box|cpu-box)/);
    // Events come back through the queue: the loss curve grows.
    const points0 = await waitFor(async () => numericAttr(page, 'chart-loss', 'data-points'), 'first loss points', 90_000);
    await waitFor(async () => (await numericAttr(page, 'chart-loss', 'data-points')) > points0, 'more loss points', 90_000);
    await screenshot(page, 'job-queue-active');
    await waitFor(async () => (await job.getAttribute('data-job-state')) === 'done', 'the job done', 180_000, 500);
    expect(await job.textContent()).toMatch(/job done on (gpu-box|cpu-box)/);
    expect(await page.getByTestId('run-status').textContent()).toBe('completed');
  });
});
