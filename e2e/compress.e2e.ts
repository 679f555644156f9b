/**
 * Issue 15 in Chromium, against the fake core: the editor's bits choice; (its compress.run answers every method with the reports the real
 * methods give): the Compress panel beside Search — pick methods, compress, the accuracy-vs-size curve and
 * table, a point's details (bits per expert, expert-similarity matrix, spectrum with its rank slider, the
 * export's download link), compressed models as diamonds in the Pareto view, the stored result on reopening —
 * and the lineage line of a BAM-upcycled run, whose source opens from it.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWorkbench, screenshot, waitFor, waitForConnection, type BrowserSession, type Served } from './harness.js';

let served: Served;
let session: BrowserSession;
let page: Page;
let pageErrors: string[] = [];

/** One protocol call from the page over the app's own WebSocket endpoint (what the launcher cannot set: upcycleFrom). */
async function call<T>(p: Page, method: string, params: unknown): Promise<T> {
  return p.evaluate(
    ({ method, params }) =>
      new Promise<T>((ok, fail) => {
        const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
        ws.onopen = () => ws.send(JSON.stringify({ t: 'call', id: 1, method, params }));
        ws.onmessage = (m) => {
          const msg = JSON.parse(String(m.data)) as { t: string; id: number; data?: T; error?: { message: string } };
          if (msg.id !== 1) return;
          ws.close();
          if (msg.t === 'result') ok(msg.data as T);
          else fail(new Error(msg.error?.message ?? 'call failed'));
        };
        ws.onerror = () => fail(new Error('websocket error'));
      }),
    { method, params },
  );
}

async function startFakeRun(p: Page, name: string) {
  await p.getByTestId('tab-runs').click();
  await p.getByTestId('launch-name').fill(name);
  await p.getByTestId('launch-dataset').selectOption('spirals');
  await p.getByTestId('launch-steps').fill('60');
  await p.getByTestId('launch-eval-every').fill('20');
  await p.getByTestId('run-start').click();
  await p.getByTestId('dashboard').waitFor();
  await waitFor(async () => (await p.getByTestId('run-title').textContent()) === name, `run "${name}" shown`, 10_000);
}

const runIdShown = async (p: Page) => ((await p.locator('[data-testid^="run-item-"][aria-current="true"]').getAttribute('data-testid')) ?? '').replace('run-item-', '');

describe('Compress panel and lineage (fake core)', () => {
  beforeAll(async () => {
    process.env.SWITCHYARD_FAKE_STEPS_PER_TICK = '10';
    ({ served, session, page, pageErrors } = await openWorkbench({ fake: true }));
    await page.getByTestId('welcome-open-spirals-moe').click();
    await page.getByTestId('welcome').waitFor({ state: 'detached' });
  });

  afterAll(async () => {
    await session?.close();
    await served?.stop();
  });

  it('edits the bits choice of an MoE block: validated, drawn on the space graph, optional', async () => {
    await page.getByTestId('tab-space').click();
    await page.getByTestId('stage-1').click();
    const bits = page.getByTestId('field-stages[1].block.bits');
    await bits.fill('3, 16');
    await expect.poll(() => page.getByTestId('issue-stages[1].block.bits').textContent(), { timeout: 10_000 }).toMatch(/bits must be 2 to 8, or 32 \(float\)/);
    await bits.fill('2, 32');
    await expect.poll(() => bits.getAttribute('aria-invalid')).toBe('false');
    await page.getByTestId('space-show-graph').click();
    await expect.poll(() => page.getByTestId('space-graph').locator('li[data-kind="moe"]').textContent()).toMatch(/bits 2, 32/);
    // Emptied: no choice, the experts stay float (the field removes the key).
    await bits.fill('');
    await expect.poll(() => page.getByTestId('space-graph').locator('li[data-kind="moe"]').textContent()).not.toMatch(/bits/);
  });

  it('compresses a run with the picked methods and shows the curve, the table and each point’s views', async () => {
    await startFakeRun(page, 'moe to shrink');
    await page.getByTestId('tab-search').click();
    const panel = page.getByTestId('compress-panel');
    await panel.waitFor();
    // Every registered method is offered, all picked; keep three.
    const boxes = panel.locator('[data-testid^="compress-method-"]');
    const offered = await boxes.count();
    expect(offered).toBeGreaterThanOrEqual(8);
    for (let i = 0; i < offered; i++) {
      const id = (await boxes.nth(i).getAttribute('data-testid'))!.replace('compress-method-', '');
      if (!['quantize', 'mc-smoe', 'd2moe'].includes(id)) await boxes.nth(i).uncheck();
    }
    await page.getByTestId('compress-calib').fill('256');
    await page.getByTestId('compress-start').click();
    // The uncompressed point and one per method (fake sweep: one level each).
    await expect.poll(() => page.getByTestId('compress-summary').textContent()).toMatch(/^4 points · calibrated on 256 validation samples/);
    expect(await page.getByTestId('compress-table').locator('tbody tr').count()).toBe(4);
    expect(await page.getByTestId('compress-table').locator('tbody tr').first().textContent()).toMatch(/^uncompressed\{\}85\.0 %/);
    expect(await page.getByTestId('compress-curve').locator('[data-testid^="compress-point-"]').count()).toBe(4);

    // quantize (table row 2): bits per expert, no similarity or spectrum.
    await page.getByTestId('compress-table').locator('tbody tr').nth(1).click();
    const details = page.getByTestId('compress-details');
    await expect.poll(() => details.textContent()).toMatch(/^quantize \{"keep":0\.5\}/);
    await expect.poll(() => page.getByTestId('compress-bits').textContent()).toBe('bits per expert: 4 4 4 4');
    expect(await page.getByTestId('compress-similarity').count()).toBe(0);
    expect(await page.getByTestId('compress-download').getAttribute('href')).toMatch(/compress-fake-quantize/);

    // mc-smoe: the similarity matrix it merged by and the spectrum; the slider moves the retained energy.
    await page.getByTestId('compress-table').locator('tbody tr').nth(2).click();
    await expect.poll(() => details.textContent()).toMatch(/^mc-smoe/);
    expect(await page.getByTestId('compress-similarity').locator('rect').count()).toBe(16);
    expect(await details.textContent()).toMatch(/groups: \{0,1\} \{2,3\}/);
    const spectrum = page.getByTestId('compress-spectrum');
    expect(await spectrum.locator('rect').count()).toBe(16);
    // σ_i = 10/i: rank 8 of 16 keeps Σ_{i≤8} 1/i² / Σ_{i≤16} 1/i² = 1.5274 / 1.5843 = 96.4 %.
    await expect.poll(() => spectrum.locator('label').textContent()).toBe('rank 8 keeps 96.4 % of Σσ²');
    await page.getByTestId('compress-rank').fill('1');
    await expect.poll(() => spectrum.locator('label').textContent()).toBe('rank 1 keeps 63.1 % of Σσ²');
    expect(await spectrum.locator('rect[fill="#1f77b4"]').count()).toBe(1);

    // d2moe via the curve: nested bit widths by importance.
    await page.getByTestId('compress-point-3').click();
    await expect.poll(() => page.getByTestId('compress-bits').textContent()).toBe('bits per expert: 8 8 2 2');
    await screenshot(page, 'compress-panel');
  });

  it('draws the compressed models as diamonds in the Pareto view and shows the stored result on reopening', async () => {
    await page.getByTestId('search-population').fill('8');
    await page.getByTestId('search-generations').fill('1');
    await page.getByTestId('search-start').click();
    await waitFor(async () => (await page.getByTestId('search-status').textContent().catch(() => '')) === 'completed', 'the search', 20_000);
    // Accuracy × latency (the default objectives): every compressed point has both.
    await expect.poll(() => page.getByTestId('pareto-scatter').locator('[data-testid^="compressed-point-"]').count()).toBe(4);

    await page.reload();
    await page.getByTestId('app-shell').waitFor();
    await waitForConnection(page);
    await page.getByTestId('tab-runs').click();
    await page.locator('[data-testid^="run-item-"]').first().click();
    await page.getByTestId('tab-search').click();
    await expect.poll(() => page.getByTestId('compress-summary').textContent()).toMatch(/^4 points/);
  });

  it('shows an upcycled run’s lineage, and each source opens from it', async () => {
    await page.getByTestId('tab-runs').click();
    const source = await runIdShown(page);
    expect(source).not.toBe('');
    // A plain run has no lineage line.
    expect(await page.getByTestId('run-lineage').count()).toBe(0);
    const record = await call<{ record: { config: Record<string, unknown> } }>(page, 'runs.get', { runId: source, offset: 0, limit: 1 });
    const { runId } = await call<{ runId: string }>(page, 'train.start', { ...record.record.config, name: 'upcycled', upcycleFrom: [source] });
    await page.getByTestId(`run-item-${runId}`).click();
    await waitFor(async () => (await page.getByTestId('run-title').textContent()) === 'upcycled', 'the upcycled run shown', 10_000);
    const lineage = page.getByTestId('run-lineage');
    await expect.poll(() => lineage.textContent()).toBe(`upcycled from ${source}`);
    await lineage.getByRole('button', { name: source }).click();
    await waitFor(async () => (await runIdShown(page)) === source, 'the source run opened', 10_000);
    expect(await page.getByTestId('run-lineage').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
