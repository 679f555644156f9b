/**
 * The Electron app end to end (Playwright's `_electron`): the window opens locked down, the renderer
 * reaches the core in its utility process over the MessagePort, and the core answers `host.hello`.
 * Skipped, with the reason, where the Electron binary is absent (it cannot be downloaded on CI here).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function electronBinary(): string | null {
  const dir = join(import.meta.dirname, '..', 'node_modules', 'electron');
  const pathFile = join(dir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const bin = join(dir, 'dist', readFileSync(pathFile, 'utf8'));
  return existsSync(bin) ? bin : null;
}

const bin = electronBinary();
const hasDisplay = process.platform !== 'linux' || !!process.env.DISPLAY || !!process.env.WAYLAND_DISPLAY;
const reason = !bin ? 'the Electron binary is not installed (node_modules/electron/dist missing)' : 'no display';
if (!bin || !hasDisplay) console.warn(`[electron e2e] skipped: ${reason}`);

describe.skipIf(!bin || !hasDisplay)('Electron app', () => {
  it('opens a sandboxed window whose renderer talks to the core', async () => {
    const { _electron } = await import('playwright-core');
    const app = await _electron.launch({ executablePath: bin!, args: [join(import.meta.dirname, '..')] });
    try {
      const page = await app.firstWindow();
      await page.waitForSelector('[data-testid="app-shell"]', { timeout: 30_000 });
      // Sandboxed, isolated renderer: no Node globals, only the preload's intent-named bridge.
      const surface = await page.evaluate(() => {
        const g = globalThis as Record<string, unknown>;
        const host = g.switchyardHost as Record<string, unknown> | undefined;
        return { require: typeof g.require, process: typeof g.process, bridge: host ? Object.keys(host).sort() : null };
      });
      expect(surface).toEqual({
        require: 'undefined',
        process: 'undefined',
        bridge: ['onMessage', 'onStatus', 'openSpaceFile', 'platform', 'saveSpaceFile', 'send'],
      });
      await page.waitForSelector('[data-testid="status-backend"]:not(:empty)', { timeout: 60_000 });
      await page.screenshot({ path: join(import.meta.dirname, 'artifacts', 'electron.png') });
    } finally {
      await app.close();
    }
  });
});
