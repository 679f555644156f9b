/**
 * The app's own origin: the renderer is served from `app://switchyard/…` (a standard, secure custom
 * scheme) instead of file://, so the page has a real origin of its own, file:// pages get no
 * privileges over the disk, and a fixed origin is what the CSP, the navigation guard and the IPC sender
 * check compare against (Electron security checklist, "Do not use file://"; its fuse
 * grantFileProtocolExtraPrivileges is turned off in electron-builder.yml).
 * Electron-free: main registers the scheme and passes `createAppHandler(root)` to protocol.handle.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { contentTypeOf } from '../../core/host/contentType.js';

export const APP_SCHEME = 'app';
export const APP_HOST = 'switchyard';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`;

/** The renderer's policy: its own scripts only; it talks to the core through the preload's port. */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * `scheme://host` of a URL, computed by hand: WHATWG URL gives 'null' as the origin of schemes it does
 * not know (such as app:), while Chromium, which knows app: is standard, gives `app://switchyard`.
 */
export function originOf(url: string): string | null {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return null;
  }
}

/** The file an app:// URL names inside `root`, or why it is refused. */
export function resolveAppPath(url: string, root: string): { file: string } | { status: 400 | 403 | 404 } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { status: 400 };
  }
  if (u.protocol !== `${APP_SCHEME}:` || u.host !== APP_HOST) return { status: 404 };
  let path: string;
  try {
    path = decodeURIComponent(u.pathname);
  } catch {
    return { status: 400 };
  }
  if (path.includes('\0') || path.includes('\\')) return { status: 400 };
  if (path === '/' || path === '') path = '/index.html';
  const base = resolve(root);
  const file = resolve(base, `.${path}`);
  const rel = relative(base, file);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) return { status: 403 };
  return { file };
}

/** The protocol.handle handler: files of `root` with their type and the CSP; nothing outside it. */
export function createAppHandler(
  root: string,
  read: (file: string) => Promise<Buffer> = (f) => readFile(f),
): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405 });
    const r = resolveAppPath(request.url, root);
    if ('status' in r) return new Response(null, { status: r.status });
    let body: Buffer;
    try {
      body = await read(r.file);
    } catch {
      return new Response(null, { status: 404 });
    }
    return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
      status: 200,
      headers: {
        'content-type': contentTypeOf(r.file),
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-cache',
      },
    });
  };
}

/**
 * Whether an IPC message comes from our renderer: the main frame (not an iframe) of the main window,
 * on the app's exact origin. Prefix tests on URLs (`startsWith('file://')`) accept far more than that.
 */
export function isTrustedSender(
  sender: { frameUrl: string | null | undefined; isMainFrame: boolean; webContentsId: number },
  expected: { origin: string; webContentsId: number | null },
): boolean {
  if (expected.webContentsId === null || sender.webContentsId !== expected.webContentsId) return false;
  if (!sender.isMainFrame || !sender.frameUrl) return false;
  return originOf(sender.frameUrl) === expected.origin;
}

/** Navigation the window allows: within the app's origin only (a reload, or a hash change). */
export function isAllowedNavigation(target: string, origin: string): boolean {
  return originOf(target) === origin;
}
