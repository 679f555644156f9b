/**
 * e2e harness: starts `switchyard serve` on a free port with a temporary runs folder, and a headless
 * Debian Chromium driven by playwright-core. Builds nothing: the renderer must already be in
 * out/renderer (`npm run build`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = join(ROOT, 'e2e', 'artifacts');
export const PUBLISHED = join(ROOT, 'assets', 'screenshots');

export interface Served {
  url: string;
  runsDir: string;
  proc: ChildProcess;
  /** Everything the server printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * `node bin/switchyard.mjs serve --port 0 --runs-dir <dir>`, resolved once it prints its URL.
 * `fake: true` serves the renderer against e2e/fakeCore.ts instead (UI development).
 */
export async function startServe(opts: { runsDir?: string; port?: number; fake?: boolean; timeoutMs?: number; extraArgs?: string[] } = {}): Promise<Served> {
  if (!existsSync(join(ROOT, 'out', 'renderer', 'index.html'))) {
    throw new Error('out/renderer is not built: run `npm run build` (or `npx vite build renderer`) before the e2e tests');
  }
  const runsDir = opts.runsDir ?? mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  const args = opts.fake
    ? [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'e2e', 'fakeServe.ts'), String(opts.port ?? 0)]
    : [
        join(ROOT, 'bin', 'switchyard.mjs'),
        'serve',
        '--port',
        String(opts.port ?? 0),
        '--runs-dir',
        runsDir,
        // SWITCHYARD_E2E_BACKEND=cpu pins the core's backend (default: the core's own choice).
        ...(process.env.SWITCHYARD_E2E_BACKEND ? ['--backend', process.env.SWITCHYARD_E2E_BACKEND] : []),
        // e.g. --redis URL (the job-queue scenario)
        ...(opts.extraArgs ?? []),
      ];
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let out = '';
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`serve did not start in time:\n${out}`)), opts.timeoutMs ?? 60_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /Switchyard serving (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`serve exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    runsDir,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise<void>((ok) => proc.once('exit', () => ok()));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      if (!opts.runsDir) rmSync(runsDir, { recursive: true, force: true });
    },
  };
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Debian's Chromium, headless, with a fresh profile. */
export async function launchBrowser(viewport = { width: 1440, height: 900 }): Promise<BrowserSession> {
  const profile = mkdtempSync(join(tmpdir(), 'switchyard-chromium-'));
  // A persistent context is how playwright takes a fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    viewport,
    // The workbench follows the OS theme until one is picked; headless Chromium reports light.
    colorScheme: 'dark',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** `startServe(opts)` and Chromium on its URL, once the shell is loaded and connected; the page's errors are collected. */
export async function openWorkbench(opts: Parameters<typeof startServe>[0] = {}): Promise<{ served: Served; session: BrowserSession; page: Page; pageErrors: string[] }> {
  const served = await startServe(opts);
  const session = await launchBrowser();
  const page = session.page;
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(served.url);
  await page.getByTestId('app-shell').waitFor();
  await waitForConnection(page);
  return { served, session, page, pageErrors };
}

/** Screenshot into e2e/artifacts/<name>.png; `publish` also copies it to assets/screenshots/. */
export async function screenshot(page: Page, name: string, publish = false): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  if (publish) {
    mkdirSync(PUBLISHED, { recursive: true });
    copyFileSync(file, join(PUBLISHED, `${name}.png`));
  }
  return file;
}

/** Poll `fn` until it returns a truthy value (or throw with `what` after `timeoutMs`). */
export async function waitFor<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The integer in attribute `attr` of the element with data-testid `testId` (0 when absent). */
export async function numericAttr(page: Page, testId: string, attr: string): Promise<number> {
  const v = await page.getByTestId(testId).first().getAttribute(attr, { timeout: 2000 }).catch(() => null);
  return v === null ? 0 : Number(v);
}

/** Wait until the status bar says the page's connection to the core is open. */
export function waitForConnection(page: Page, what = 'connection', timeoutMs?: number): Promise<unknown> {
  return waitFor(async () => (await page.getByTestId('status-connection').getAttribute('data-state')) === 'open', what, timeoutMs);
}
