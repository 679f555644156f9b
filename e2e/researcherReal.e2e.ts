/**
 * Issue 16's scenarios whose point is real behaviour, against `switchyard serve` and the real core: a
 * run that the CLI trains in another process is followed live (list, status, curves) without Refresh,
 * and an export is downloaded through the browser as a zip and unzipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, numericAttr, ROOT, screenshot, startServe, waitFor, type BrowserSession, type Served, waitForConnection } from './harness.js';

let served: Served;
let session: BrowserSession;
let page: Page;
let runsDir = '';
let cli: ChildProcess | null = null;
let cliOut = '';
let runId = '';
const pageErrors: string[] = [];

describe('researcher workflows (real core)', () => {
  beforeAll(async () => {
    runsDir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-real-'));
    served = await startServe({ runsDir });
    session = await launchBrowser();
    page = session.page;
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(served.url);
    await page.getByTestId('app-shell').waitFor();
    await waitForConnection(page);
  });

  afterAll(async () => {
    if (cli && cli.exitCode === null) cli.kill('SIGTERM');
    await session?.close();
    await served?.stop();
    if (runsDir) rmSync(runsDir, { recursive: true, force: true });
  });

  it('follows a run the CLI trains in another process: it appears, runs, grows its curves and completes without Refresh', async () => {
    await page.getByTestId('tab-runs').click();
    expect(await page.locator('[data-testid^="run-item-"]').count()).toBe(0);
    const args = [join(ROOT, 'bin', 'switchyard.mjs'), 'train', join(ROOT, 'assets', 'spaces', 'spirals-moe.json'), '--steps', '400', '--batch', '32', '--eval-every', '50', '--checkpoint-every', '100', '--runs-dir', runsDir];
    if (process.env.SWITCHYARD_E2E_BACKEND) args.push('--backend', process.env.SWITCHYARD_E2E_BACKEND);
    cli = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    cli.stdout!.on('data', (b: Buffer) => (cliOut += b.toString()));
    cli.stderr!.on('data', (b: Buffer) => (cliOut += b.toString()));
    const item = page.locator('[data-testid^="run-item-"]').first();
    await waitFor(async () => (await item.count()) > 0, `the CLI run in the list (CLI output: ${cliOut})`, 60_000);
    runId = ((await item.getAttribute('data-testid')) ?? '').replace('run-item-', '');
    await waitFor(async () => (await item.getAttribute('data-status')) === 'running', 'it running', 90_000);
    await item.click();
    const p0 = await waitFor(async () => numericAttr(page, 'chart-loss', 'data-points'), 'first points', 90_000);
    await waitFor(async () => (await numericAttr(page, 'chart-loss', 'data-points')) > p0, 'the curve growing live', 90_000);
    const step0 = await numericAttr(page, 'run-progress', 'aria-valuenow');
    await waitFor(async () => (await numericAttr(page, 'run-progress', 'aria-valuenow')) > step0, 'the step advancing', 90_000);
    await screenshot(page, 'researcher-cli-run-live');
    await waitFor(async () => (await item.getAttribute('data-status')) === 'completed', `the CLI run to complete (CLI output: ${cliOut})`, 240_000, 500);
    await waitFor(async () => (await page.getByTestId('run-status').textContent()) === 'completed', 'the dashboard to say so', 10_000);
    expect(await numericAttr(page, 'run-progress', 'aria-valuenow')).toBe(400);
  });

  it('downloads an export as a zip through the browser and unzips it', async () => {
    await page.getByTestId('tab-search').click();
    await page.getByTestId('search-population').fill('4');
    await page.getByTestId('search-generations').fill('1');
    await page.getByTestId('search-eval-samples').fill('200');
    await page.getByTestId('search-start').click();
    const point = page.locator('[data-testid^="front-point-"]').first();
    await point.waitFor({ timeout: 180_000 });
    await waitFor(async () => (await page.getByTestId('search-start').isEnabled()) || null, 'the search to finish', 180_000, 500);
    await page.locator('[data-testid^="front-point-"]').first().click();
    await page.getByTestId('export-subnet').click();
    const link = page.getByTestId('export-download');
    await link.waitFor({ timeout: 120_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^${runId}-.+\\.zip$`));
    const files = unzipSync(new Uint8Array(readFileSync((await download.path())!)));
    const names = Object.keys(files).filter((n) => !n.endsWith('/'));
    // the same files the export wrote, under the export's folder name
    const listed = await page.getByTestId('export-file').allTextContents();
    for (const f of listed) expect(names.some((n) => f.endsWith(n.split('/').slice(1).join('/')))).toBe(true);
    const arch = names.find((n) => n.endsWith('arch.json'));
    expect(arch).toBeDefined();
    expect(JSON.parse(strFromU8(files[arch!]!)).arch).toHaveProperty('stages');
    // without the token the route refuses nothing here (serve on loopback has none); a wrong path is a 404
    const status = await page.evaluate(async (u) => (await fetch(u)).status, `/api/exports/${runId}/nope.zip`);
    expect(status).toBe(404);
    await screenshot(page, 'researcher-export-zip');
    expect(pageErrors).toEqual([]);
  });
});
