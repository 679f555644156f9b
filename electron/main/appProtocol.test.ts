import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_INDEX_URL, APP_ORIGIN, createAppHandler, CSP, isAllowedNavigation, isTrustedSender, resolveAppPath } from './appProtocol.js';

let root = '';
let outside = '';
beforeAll(async () => {
  const base = await mkdtemp(join(tmpdir(), 'sy-app-'));
  root = join(base, 'renderer');
  outside = join(base, 'secret.txt');
  await mkdir(join(root, 'assets'), { recursive: true });
  await writeFile(join(root, 'index.html'), '<!doctype html><title>Switchyard</title>');
  await writeFile(join(root, 'assets', 'main.js'), 'console.log(1)');
  await writeFile(outside, 'not for the page');
});
afterAll(() => rm(join(root, '..'), { recursive: true, force: true }));

describe('app:// protocol', () => {
  it('serves the renderer files with their type and the CSP', async () => {
    const handle = createAppHandler(root);
    const index = await handle(new Request(APP_INDEX_URL));
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('content-security-policy')).toBe(CSP);
    expect(await index.text()).toContain('<title>Switchyard</title>');
    const js = await handle(new Request(`${APP_ORIGIN}/assets/main.js`));
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await handle(new Request(`${APP_ORIGIN}/`))).status).toBe(200);
    expect((await handle(new Request(`${APP_ORIGIN}/missing.js`))).status).toBe(404);
  });

  it('never leaves the renderer folder, whatever the encoding', async () => {
    const handle = createAppHandler(root);
    const escapes = [
      `${APP_ORIGIN}/..%2fsecret.txt`,
      `${APP_ORIGIN}/assets/..%2f..%2fsecret.txt`,
      `${APP_ORIGIN}/%2e%2e/secret.txt`,
      `${APP_ORIGIN}/..%5csecret.txt`,
      `${APP_ORIGIN}/${encodeURIComponent(outside)}`,
    ];
    for (const url of escapes) {
      const r = await handle(new Request(url));
      expect(r.status, url).not.toBe(200);
      expect(await r.text(), url).not.toContain('not for the page');
    }
    expect(resolveAppPath(`${APP_ORIGIN}/..%2fsecret.txt`, root)).toEqual({ status: 403 });
    expect(resolveAppPath(`${APP_ORIGIN}/%E0%A4%A`, root)).toEqual({ status: 400 });
    expect(resolveAppPath(`${APP_ORIGIN}/a%00.html`, root)).toEqual({ status: 400 });
    expect(resolveAppPath('app://elsewhere/index.html', root)).toEqual({ status: 404 });
    expect(resolveAppPath('file:///etc/passwd', root)).toEqual({ status: 404 });
    expect((await handle(new Request(APP_INDEX_URL, { method: 'POST', body: 'x' }))).status).toBe(405);
  });
});

describe('IPC sender and navigation checks', () => {
  const main = { origin: APP_ORIGIN, webContentsId: 1 };
  it('trusts only the main frame of the main window on the exact app origin', () => {
    expect(isTrustedSender({ frameUrl: APP_INDEX_URL, isMainFrame: true, webContentsId: 1 }, main)).toBe(true);
    // What the old prefix checks let through:
    expect(isTrustedSender({ frameUrl: 'app://switchyard.evil/index.html', isMainFrame: true, webContentsId: 1 }, main)).toBe(false);
    expect(isTrustedSender({ frameUrl: 'file:///tmp/x/out/renderer/index.html', isMainFrame: true, webContentsId: 1 }, main)).toBe(false);
    expect(isTrustedSender({ frameUrl: 'http://localhost:5173.evil.example/', isMainFrame: true, webContentsId: 1 }, { origin: 'http://localhost:5173', webContentsId: 1 })).toBe(false);
    // Right origin, wrong frame or window:
    expect(isTrustedSender({ frameUrl: APP_INDEX_URL, isMainFrame: false, webContentsId: 1 }, main)).toBe(false);
    expect(isTrustedSender({ frameUrl: APP_INDEX_URL, isMainFrame: true, webContentsId: 2 }, main)).toBe(false);
    expect(isTrustedSender({ frameUrl: APP_INDEX_URL, isMainFrame: true, webContentsId: 1 }, { ...main, webContentsId: null })).toBe(false);
    expect(isTrustedSender({ frameUrl: null, isMainFrame: true, webContentsId: 1 }, main)).toBe(false);
  });

  it('allows navigation within the app origin only', () => {
    expect(isAllowedNavigation(`${APP_INDEX_URL}#/runs`, APP_ORIGIN)).toBe(true);
    expect(isAllowedNavigation('https://attacker.example/', APP_ORIGIN)).toBe(false);
    expect(isAllowedNavigation('file:///etc/passwd', APP_ORIGIN)).toBe(false);
    expect(isAllowedNavigation('app://switchyard.evil/', APP_ORIGIN)).toBe(false);
  });
});
