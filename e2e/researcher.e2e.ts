/**
 * Issue 16 in Chromium: the workbench as a researcher uses it (compare, download, fit, follow). Runs
 * against the fake core (fast, synthetic streams); the scenarios whose point is real behaviour — a CLI
 * run followed live, an export zip — are in researcherReal.e2e.ts against `switchyard serve`.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, numericAttr, screenshot, startServe, waitFor, type BrowserSession, type Served } from './harness.js';

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

async function startFakeRun(p: Page, steps: number, name?: string) {
  await p.getByTestId('tab-runs').click();
  if (name !== undefined) await p.getByTestId('launch-name').fill(name);
  await p.getByTestId('launch-dataset').selectOption('spirals');
  await p.getByTestId('launch-steps').fill(String(steps));
  await p.getByTestId('launch-eval-every').fill('20');
  await p.getByTestId('run-start').click();
  await p.getByTestId('dashboard').waitFor();
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
    await waitFor(async () => (await page.getByTestId('status-connection').getAttribute('data-state')) === 'open', 'connection');
  });

  afterAll(async () => {
    await session?.close();
    await served?.stop();
  });

  it('keeps the run dashboard inside the window after a long MoE run and after a resize 1440 → 1024', async () => {
    await page.getByTestId('tab-space').click();
    await page.getByTestId('space-example').selectOption('spirals-moe');
    await startFakeRun(page, 600);
    await waitFor(async () => (await page.getByTestId('run-status').textContent()) === 'completed', 'the run to complete', 60_000, 300);
    await page.locator('[data-testid^="heatmap-"]').first().waitFor();
    const wide = await overflow(page);
    expect(wide.doc).toBe(wide.viewport);
    expect(wide.main).toBe(0);
    expect(wide.dashRight).toBeLessThanOrEqual(wide.viewport);
    await page.setViewportSize({ width: 1024, height: 800 });
    await waitFor(async () => (await overflow(page)).dashRight <= 1024, 'the dashboard to shrink', 5000);
    const narrow = await overflow(page);
    expect(narrow.doc).toBe(1024);
    expect(narrow.main).toBe(0);
    // Every chart's svg fits its figure.
    const tooWide = await page.evaluate(() =>
      [...document.querySelectorAll('figure.chart')].filter((f) => (f.querySelector('.chart-body svg') as SVGSVGElement).getBoundingClientRect().width > f.getBoundingClientRect().width + 1).length,
    );
    expect(tooWide).toBe(0);
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

  afterAll(() => {
    expect(pageErrors).toEqual([]);
  });
});
