/**
 * Issue 16 in Chromium: the workbench as a researcher uses it (compare, download, fit, follow). Runs
 * against the fake core (fast, synthetic streams); the scenarios whose point is real behaviour — a CLI
 * run followed live, an export zip — are in researcherReal.e2e.ts against `switchyard serve`.
 */
import { readFileSync } from 'node:fs';
import type { Download, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listExampleSpaces } from '../core/space/exampleSpaces.js';
import { launchBrowser, numericAttr, screenshot, startServe, waitFor, type BrowserSession, type Served, waitForConnection } from './harness.js';

let served: Served;
let session: BrowserSession;
let page: Page;
const pageErrors: string[] = [];

/** Widths that must not exceed the viewport: the page, the main view and the dashboard. */
async function overflow(p: Page) {
  return p.evaluate(() => {
    const main = document.querySelector('main')!;
    const dash = document.querySelector('[data-testid="dashboard"]') as HTMLElement | null;
    return {
      viewport: window.innerWidth,
      doc: document.documentElement.scrollWidth,
      main: main.scrollWidth - main.clientWidth,
      dashRight: dash ? Math.round(dash.getBoundingClientRect().right) : 0,
    };
  });
}

/** Click and return the downloaded file's name and bytes. */
async function download(p: Page, testId: string): Promise<{ name: string; bytes: Buffer }> {
  const [d] = await Promise.all([p.waitForEvent('download'), p.getByTestId(testId).click()]);
  return { name: (d as Download).suggestedFilename(), bytes: readFileSync((await d.path())!) };
}

async function startFakeRun(p: Page, steps: number, name?: string) {
  await p.getByTestId('tab-runs').click();
  if (name !== undefined) await p.getByTestId('launch-name').fill(name);
  await p.getByTestId('launch-dataset').selectOption('spirals');
  await p.getByTestId('launch-steps').fill(String(steps));
  await p.getByTestId('launch-eval-every').fill('20');
  await p.getByTestId('run-start').click();
  await p.getByTestId('dashboard').waitFor();
  // the new run on screen (not the one shown before)
  if (name !== undefined) await waitFor(async () => (await p.getByTestId('run-title').textContent()) === name, `run "${name}" shown`, 10_000);
}

describe('researcher workflows (fake core)', () => {
  beforeAll(async () => {
    process.env.SWITCHYARD_FAKE_STEPS_PER_TICK = '10';
    served = await startServe({ fake: true });
    session = await launchBrowser();
    page = session.page;
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(served.url);
    await page.getByTestId('app-shell').waitFor();
    await waitForConnection(page);
  });

  afterAll(async () => {
    await session?.close();
    await served?.stop();
  });

  it('welcomes a first open with the examples and their descriptions, and draws the space as a graph', async () => {
    const welcome = page.getByTestId('welcome');
    await welcome.waitFor();
    // One card per example space the core lists (the fake core serves core/space/exampleSpaces).
    await expect.poll(() => welcome.locator('[data-testid^="welcome-example-"]').count()).toBe(listExampleSpaces().length);
    const spirals = (await page.getByTestId('welcome-example-spirals-moe').textContent()) ?? '';
    expect(spirals).toMatch(/Spirals MoE/);
    expect(spirals).toMatch(/Two-dimensional spirals/); // the example's description
    await page.getByTestId('welcome-open-spirals-moe').click();
    await welcome.waitFor({ state: 'detached' });
    await expect.poll(() => page.getByTestId('stage-list').locator('li').count()).toBe(2);

    await page.getByTestId('space-show-graph').click();
    const graph = page.getByTestId('space-graph');
    await graph.waitFor();
    const kinds = await graph.locator('li[data-kind]').evaluateAll((ls) => ls.map((l) => l.getAttribute('data-kind')));
    expect(kinds).toEqual(['input', 'dense', 'moe', 'head']);
    expect(await graph.getByTestId('space-graph-node-input').textContent()).toMatch(/vector 2/);
    const moe = (await graph.locator('li[data-kind="moe"]').textContent()) ?? '';
    expect(moe).toMatch(/4 experts · top-2/);
    expect(moe).toMatch(/params · .* FLOPs/);
    await screenshot(page, 'researcher-space-graph');
    await page.getByTestId('space-show-stack').click();
    await page.reload();
    await page.getByTestId('app-shell').waitFor();
    expect(await page.getByTestId('welcome').count()).toBe(0);
  });

  it('keeps the run dashboard inside the window after a long MoE run and after a resize 1440 → 1024', async () => {
    await page.getByTestId('tab-space').click();
    await page.getByTestId('space-example').selectOption('spirals-moe');
    await startFakeRun(page, 600);
    await waitFor(async () => (await page.getByTestId('run-status').textContent()) === 'completed', 'the run to complete', 60_000, 300);
    await page.locator('[data-testid^="heatmap-"]').first().waitFor();
    // (measured once the last batch's re-render has settled)
    await waitFor(async () => (await overflow(page)).main === 0, 'no horizontal overflow at 1440', 5000);
    const wide = await overflow(page);
    expect(wide.doc).toBe(wide.viewport);
    expect(wide.main).toBe(0);
    expect(wide.dashRight).toBeLessThanOrEqual(wide.viewport);
    await page.setViewportSize({ width: 1024, height: 800 });
    // the charts follow on their ResizeObserver's next callback
    await waitFor(async () => {
      const o = await overflow(page);
      return o.dashRight <= 1024 && o.main === 0;
    }, 'the dashboard to shrink', 5000);
    const narrow = await overflow(page);
    expect(narrow.doc).toBe(1024);
    expect(narrow.main).toBe(0);
    // Every chart's svg fits its figure (each redraws on its own ResizeObserver callback, which a loaded
    // machine delivers after the dashboard's: wait for them, then assert).
    const chartsTooWide = () =>
      page.evaluate(() =>
        [...document.querySelectorAll('figure.chart')].filter((f) => (f.querySelector('.chart-body svg') as SVGSVGElement).getBoundingClientRect().width > f.getBoundingClientRect().width + 1).length,
      );
    await waitFor(async () => (await chartsTooWide()) === 0, 'every chart to fit its figure at 1024', 5000).catch(() => undefined);
    expect(await chartsTooWide()).toBe(0);
    await screenshot(page, 'researcher-dashboard-1024');
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('shows values under a crosshair, zooms with the wheel, resets, and switches to log y and wall time', async () => {
    const overlay = page.getByTestId('chart-loss-overlay');
    const box = (await overlay.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const tip = page.getByTestId('chart-loss-tooltip');
    await tip.waitFor();
    expect(await tip.textContent()).toMatch(/step \d+.*train/);
    await page.mouse.wheel(0, -400);
    await expect.poll(() => page.getByTestId('chart-loss').getAttribute('data-zoomed')).toBe('true');
    await page.getByTestId('chart-loss-reset-zoom').click();
    await expect.poll(() => page.getByTestId('chart-loss').getAttribute('data-zoomed')).toBe('false');
    await page.getByTestId('chart-loss-log-y').click();
    await expect.poll(() => page.getByTestId('chart-loss').getAttribute('data-log-y')).toBe('true');
    await page.getByTestId('chart-x-time').click();
    await expect.poll(() => page.getByTestId('chart-loss').locator('svg[role="img"]').getAttribute('aria-label')).toMatch(/wall time/);
    await page.getByTestId('chart-x-step').click();
    expect(await numericAttr(page, 'chart-loss', 'data-points')).toBeGreaterThan(100);
  });

  it('downloads a chart as CSV, SVG and PNG', async () => {
    const csv = await download(page, 'chart-loss-download-csv');
    expect(csv.name).toBe('loss.csv');
    const lines = csv.bytes.toString('utf8').trim().split('\n');
    expect(lines[0]).toBe('step,train,validation');
    expect(lines.length).toBe(601);
    const svg = await download(page, 'chart-accuracy-download-svg');
    const text = svg.bytes.toString('utf8');
    expect(text).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // the theme's variables are resolved: the file stands alone
    expect(text).not.toMatch(/var\(--/);
    const png = await download(page, 'chart-loss-download-png');
    expect(png.name).toBe('loss.png');
    expect([...png.bytes.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    // a canvas heatmap: its pixels as PNG, its values as a point × slot table
    const heat = ((await page.locator('[data-testid^="heatmap-"]').first().getAttribute('data-testid')) ?? '').replace('heatmap-', '');
    const heatPng = await download(page, `dl-heatmap-${heat}-download-png`);
    expect([...heatPng.bytes.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const heatCsv = (await download(page, `dl-heatmap-${heat}-download-csv`)).bytes.toString('utf8').trim().split('\n');
    expect(heatCsv[0]).toMatch(/^point,e0,e1/);
    expect(heatCsv.length).toBeGreaterThan(100);
  });

  it('shows a cancelled search as cancelled, the newest search on reopening, and another one picked', async () => {
    await page.getByTestId('tab-search').click();
    await page.getByTestId('search-population').fill('8');
    await page.getByTestId('search-generations').fill('40');
    await page.getByTestId('search-start').click();
    await waitFor(async () => (await numericAttr(page, 'search-progress', 'aria-valuenow')) >= 16, 'some evaluations');
    await page.getByTestId('search-cancel').click();
    await expect.poll(() => page.getByTestId('search-status').textContent()).toBe('cancelled');
    expect(await page.getByTestId('search-progress').locator('..').textContent()).not.toMatch(/ETA/);
    const cancelledCount = await numericAttr(page, 'pareto-scatter', 'data-points');
    expect(cancelledCount).toBeGreaterThanOrEqual(16);

    const csv = await download(page, 'search-download-csv');
    const rows = csv.bytes.toString('utf8').trim().split('\n');
    expect(rows[0]!.startsWith('id,generation,accuracy')).toBe(true);
    expect(rows.length).toBe(cancelledCount + 1);

    await page.getByTestId('search-generations').fill('2');
    await page.getByTestId('search-start').click();
    await waitFor(async () => (await page.getByTestId('search-status').textContent().catch(() => '')) === 'completed', 'the second search', 20_000);
    expect(await numericAttr(page, 'pareto-scatter', 'data-points')).toBe(16);
    // the latency model's own held-out error, as the core reported it (fakeCore: 3.1 %, τ 0.87, n 16)
    await expect.poll(() => page.getByTestId('latency-model').textContent()).toMatch(/held-out MAPE 3\.1%, Kendall τ 0\.87, n = 16 \(fitted on 74\) — passes its check/);

    // Reopen: the newest search is shown, the older one can be picked.
    await page.reload();
    await page.getByTestId('app-shell').waitFor();
    await page.getByTestId('tab-runs').click();
    await page.locator('[data-testid^="run-item-"]').first().click();
    await page.getByTestId('tab-search').click();
    await waitFor(async () => (await numericAttr(page, 'pareto-scatter', 'data-points')) === 16, 'the newest search shown', 10_000);
    const picker = page.getByTestId('search-picker');
    const options = await picker.locator('option').allTextContents();
    expect(options.length).toBe(2);
    expect(options[0]).toMatch(/^newest · nsga2 · completed · 16 evaluated/);
    expect(options[1]).toMatch(/cancelled/);
    await picker.selectOption({ index: 1 });
    await waitFor(async () => (await numericAttr(page, 'pareto-scatter', 'data-points')) === cancelledCount, 'the older search shown', 10_000);
    // the selected subnet's picks on the run's space graph
    await page.locator('[data-testid^="front-point-"]').first().click();
    await page.getByTestId('subnet-graph').locator('summary').click();
    await expect.poll(() => page.getByTestId('subnet-space-graph').locator('li.picked').count()).toBe(2);
    expect(await page.getByTestId('subnet-space-graph').locator('.graph-picked').first().textContent()).toMatch(/depth \d: /);
    const scatter = await download(page, 'pareto-download-svg');
    expect(scatter.bytes.toString('utf8')).toMatch(/<circle/);
    const pc = await download(page, 'parallel-coords-download-png');
    expect([...pc.bytes.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    await screenshot(page, 'researcher-search-picker');
  });

  it('compares runs in a table: sort, regex filter, rename, tag, overlay two runs, open the space in the editor, delete', async () => {
    await startFakeRun(page, 200, 'wide experts');
    await waitFor(async () => (await page.getByTestId('run-status').textContent()) === 'completed', 'run 2', 20_000);
    await startFakeRun(page, 300, 'narrow experts');
    await waitFor(async () => (await page.getByTestId('run-status').textContent()) === 'completed', 'run 3', 20_000);
    await page.getByTestId('tab-compare').click();
    const table = page.getByTestId('run-table');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(3);
    const ids = async () =>
      (await table.locator('tbody tr').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-testid')!.replace('run-row-', ''))));
    const byName = async (name: string) => {
      const row = table.locator('tbody tr', { hasText: name });
      return ((await row.getAttribute('data-testid')) ?? '').replace('run-row-', '');
    };
    const wide = await byName('wide experts');
    const narrow = await byName('narrow experts');

    // sort: steps descending puts the 600-step run first, ascending the 200-step one
    await page.getByTestId('runs-sort-steps').click();
    expect((await ids())[2]).toBe(wide);
    await page.getByTestId('runs-sort-steps').click();
    expect((await ids())[0]).toBe(wide);

    // regex filter over names (and #tags)
    await page.getByTestId('runs-filter').fill('^(wide|narrow)');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
    await page.getByTestId('runs-filter').fill('wide (');
    expect(await page.getByTestId('runs-filter').getAttribute('data-regex')).toBe('false');
    await page.getByTestId('runs-filter').fill('');

    // rename and tag
    await page.getByTestId(`run-rename-${narrow}`).click();
    await page.getByTestId(`run-rename-input-${narrow}`).fill('narrow experts v2');
    await page.getByTestId(`run-rename-input-${narrow}`).press('Enter');
    await expect.poll(() => page.getByTestId(`run-name-${narrow}`).textContent()).toBe('narrow experts v2');
    await page.getByTestId(`run-tags-${wide}`).click();
    await page.getByTestId(`run-tags-input-${wide}`).fill('baseline, moe');
    await page.getByTestId(`run-tags-input-${wide}`).press('Enter');
    await expect.poll(() => page.getByTestId(`run-tag-${wide}`).allTextContents()).toEqual(['#baseline', '#moe']);
    await page.getByTestId('runs-filter').fill('#baseline');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    await page.getByTestId('runs-filter').fill('');

    // overlay two runs: one curve per run, each in its own colour, named after the run
    await page.getByTestId(`compare-toggle-${wide}`).check();
    await page.getByTestId(`compare-toggle-${narrow}`).check();
    await expect.poll(() => page.getByTestId('compare-overlay').getAttribute('data-runs')).toBe('2');
    const loss = page.getByTestId('compare-loss');
    await expect.poll(() => loss.locator('path[data-series]').count()).toBe(2);
    const names = await loss.locator('path[data-series]').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-series')));
    expect(names).toEqual(['wide experts', 'narrow experts v2']);
    const colours = await loss.locator('path[data-series]').evaluateAll((ps) => ps.map((p) => p.getAttribute('stroke')));
    expect(new Set(colours).size).toBe(2);
    await waitFor(async () => (await numericAttr(page, 'compare-loss', 'data-points')) >= 500, 'both histories', 10_000);
    await screenshot(page, 'researcher-compare');

    // the run's space (Spirals MoE, kept in the editor across the reload above) back into the editor
    await page.getByTestId('tab-space').click();
    await page.getByTestId('space-new').click();
    await expect.poll(() => page.getByTestId('stage-list').locator('li').count()).toBe(1);
    await page.getByTestId('tab-compare').click();
    await page.getByTestId(`run-edit-space-${wide}`).click();
    await expect.poll(() => page.getByTestId('tab-space').getAttribute('aria-selected')).toBe('true');
    await expect.poll(() => page.getByTestId('stage-list').locator('li').count()).toBe(2);

    // delete (two clicks) removes it from the table and the overlay
    await page.getByTestId('tab-compare').click();
    await page.getByTestId(`run-delete-${narrow}`).click();
    await page.getByTestId(`run-delete-${narrow}`).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
    await expect.poll(() => page.getByTestId('compare-overlay').getAttribute('data-runs')).toBe('1');
  });

  it('keeps the edited space, the view and the open run across a reload', async () => {
    await page.getByTestId('tab-space').click();
    await page.getByTestId('add-stage-moe').click();
    const stages = await page.getByTestId('stage-list').locator('li').count();
    await page.getByTestId('tab-runs').click();
    const runId = ((await page.locator('[data-testid^="run-item-"]').first().getAttribute('data-testid')) ?? '').replace('run-item-', '');
    await page.getByTestId(`run-item-${runId}`).click();
    await page.getByTestId('dashboard').waitFor();
    await expect.poll(() => page.evaluate(() => location.search)).toContain(`run=${runId}`);
    await page.waitForTimeout(400); // the space is written a moment after the last edit
    await page.reload();
    await page.getByTestId('app-shell').waitFor();
    expect(await page.getByTestId('tab-runs').getAttribute('aria-selected')).toBe('true');
    await waitFor(async () => (await page.locator('[data-testid="run-item-' + runId + '"][aria-current="true"]').count()) === 1, 'the run reopened', 10_000);
    await waitFor(async () => (await numericAttr(page, 'chart-loss', 'data-points')) > 10, 'its history', 10_000);
    await page.getByTestId('tab-space').click();
    expect(await page.getByTestId('stage-list').locator('li').count()).toBe(stages);
  });

  it('shows every validation error at its field, disables Start for data that does not fit, offers only available backends', async () => {
    await page.getByTestId('tab-space').click();
    await page.getByTestId('space-new').click();
    await page.getByTestId('stage-0').click();
    await page.getByTestId('field-stages[0].depth').fill('0');
    await page.getByTestId('field-stages[0].block.width').fill('-4, 8');
    const depth = page.getByTestId('issue-stages[0].depth');
    const width = page.getByTestId('issue-stages[0].block.width');
    await depth.waitFor({ timeout: 10_000 });
    await width.waitFor({ timeout: 10_000 });
    expect(await width.textContent()).toMatch(/^choice 1: /);
    // nothing left over as raw text under the stage
    expect(await page.locator('[data-testid^="issues-under-"]').count()).toBe(0);
    await page.getByTestId('field-stages[0].depth').fill('1');
    await page.getByTestId('field-stages[0].block.width').fill('8');
    await expect.poll(() => page.getByTestId('space-validity').getAttribute('data-ok')).toBe('true');

    await page.getByTestId('tab-runs').click();
    await page.getByTestId('launch-dataset').selectOption('gaussians'); // 6 classes into the 4-class space
    await page.getByTestId('launch-mismatch').waitFor();
    expect(await page.getByTestId('run-start').isDisabled()).toBe(true);
    await page.getByTestId('launch-fit-space').click();
    await expect.poll(() => page.getByTestId('run-start').isDisabled()).toBe(false);
    // the fake server has only the cpu backend
    expect(await page.getByTestId('launch-backend').locator('option').allTextContents()).toEqual(['auto', 'cpu']);
  });

  it('titles every matrix, gives each a colour scale, and clips no label', async () => {
    await page.getByTestId('tab-runs').click();
    await page.locator('[data-testid^="run-item-"]', { hasText: 'Spirals MoE' }).first().click();
    await page.locator('[data-testid^="router-scale-"]').first().waitFor();
    await page.getByTestId('tab-experts').click();
    await page.getByTestId('specialization').waitFor();
    const titles = await page.locator('.matrix-figure figcaption .chart-title').allTextContents();
    expect(titles).toContain('Expert co-activation');
    expect(titles).toContain('Class × expert routing');
    const matrices = await page.locator('svg.matrix').count();
    expect(await page.locator('[data-testid^="spec-"][data-testid$="-scale"]').count()).toBe(matrices);
    expect(await page.getByTestId('sampling-heatmap-scale').count()).toBe(1);
    const clipped = await page.evaluate(() =>
      [...document.querySelectorAll('svg.matrix')].flatMap((svg) => {
        const box = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')]
          .map((t) => t.getBoundingClientRect())
          .filter((r) => r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5).length;
      }),
    );
    expect(clipped.every((n) => n === 0)).toBe(true);
    const coact = ((await page.locator('svg[data-testid^="spec-coact-"]').first().getAttribute('data-testid')) ?? '');
    const m = (await download(page, `${coact}-download-csv`)).bytes.toString('utf8').trim().split('\n');
    expect(m[0]).toBe(',e0,e1,e2,e3');
    expect(m.length).toBe(5);
    await screenshot(page, 'researcher-experts');
  });

  it('follows the OS light/dark preference until a theme is picked', async () => {
    await page.emulateMedia({ colorScheme: 'light' });
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await page.getByTestId('theme-toggle').click(); // picked: the OS no longer decides
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
  });

  afterAll(() => {
    expect(pageErrors).toEqual([]);
  });
});
