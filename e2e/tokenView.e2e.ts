/**
 * Issue 12's token view and generation box in Chromium, against the fake core (its run.tokenRouting routes
 * a fixed text by character code: top expert (c + layer) mod 4, gates 0.55 + 0.4·((7c + t) mod 10)/10 and
 * the rest, so the colours and the hover are checked by hand here): a char-LM run, the experts view's
 * coloured text, the hover gates, the layer picker, the load chart and the class matrix, then greedy
 * generation in the run view.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { categoryColor, hexToRgb } from '../renderer/src/charts/heatmapColor.js';
import { openWorkbench, screenshot, waitFor, type BrowserSession, type Served } from './harness.js';

let served: Served;
let session: BrowserSession;
let page: Page;
let pageErrors: string[] = [];

const rgb = (hex: string) => `rgb(${hexToRgb(hex).join(', ')})`;

describe('token view and generation (fake core)', () => {
  beforeAll(async () => {
    ({ served, session, page, pageErrors } = await openWorkbench({ fake: true }));
    await page.getByTestId('welcome-open-char-lm-fortunes').click();
    await page.getByTestId('welcome').waitFor({ state: 'detached' });
    await page.getByTestId('tab-runs').click();
    await page.getByTestId('launch-name').fill('char lm');
    await page.getByTestId('launch-dataset').selectOption('text');
    await page.getByTestId('launch-steps').fill('40');
    await page.getByTestId('run-start').click();
    await page.getByTestId('dashboard').waitFor();
    await waitFor(async () => (await page.getByTestId('run-title').textContent()) === 'char lm', 'run shown', 10_000);
  }, 120_000);

  afterAll(async () => {
    await session?.close();
    await served?.stop();
  });

  it('colours each character by its top expert, shows its gates on hover, per layer', async () => {
    await page.getByTestId('tab-experts').click();
    await page.getByTestId('token-fetch').click();
    const first = page.getByTestId('token-0-0');
    await first.waitFor();
    // "Never trust…": 'N' is 78 → layer 0 top expert 78 mod 4 = 2, second 3; gate 0.55 + 0.4·((546 + 0) mod 10)/10 = 0.79.
    expect(await first.textContent()).toBe('N');
    expect(await first.getAttribute('data-expert')).toBe('2');
    expect(await first.evaluate((e) => getComputedStyle(e).backgroundColor)).toBe(rgb(categoryColor(2)));
    // 'e' (101) at position 1: expert 1, gate 0.55 + 0.4·((707 + 1) mod 10)/10 = 0.87.
    await page.getByTestId('token-0-1').hover();
    await expect.poll(() => page.getByTestId('token-hover').textContent()).toMatch(/position 1: “e” → e1 0\.870 · e2 0\.130/);
    // The space is drawn as a visible dot; 32 → expert 0.
    expect(await page.getByTestId('token-0-5').textContent()).toBe('·');
    expect(await page.getByTestId('token-0-5').getAttribute('data-expert')).toBe('0');
    await page.getByTestId('token-layer').selectOption({ label: 't.b1' });
    await expect.poll(() => first.getAttribute('data-expert')).toBe('3');
    expect(await first.evaluate((e) => getComputedStyle(e).backgroundColor)).toBe(rgb(categoryColor(3)));
    expect(await page.getByTestId('token-load').count()).toBe(1);
    // Classes are the characters of both sequences; columns the four experts.
    expect(Number(await page.getByTestId('token-class-matrix').getAttribute('data-cols'))).toBe(4);
    expect(Number(await page.getByTestId('token-class-matrix').getAttribute('data-rows'))).toBeGreaterThan(10);
    await screenshot(page, 'token-view');
  });

  it('generates greedily from a prompt in the run view', async () => {
    await page.getByTestId('tab-runs').click();
    await page.getByTestId('generate-prompt').fill('To be');
    await page.getByTestId('generate-start').click();
    await expect.poll(() => page.getByTestId('generate-output').textContent()).toBe('To be and the rest is silence.');
    await page.getByTestId('generate-temperature').fill('0.8');
    await page.getByTestId('generate-start').click();
    await expect.poll(() => page.getByTestId('generate-output').textContent()).toBe('To be and then, at random, a fox.');
    expect(pageErrors).toEqual([]);
  });
});
