/**
 * The headless host: the core under plain Node, serving the built renderer and the protocol over a
 * WebSocket (`/ws`). Binds 127.0.0.1 by default; binding anything else requires a token, and browsers
 * from other origins are refused (a page on another site must not drive a local trainer).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Core, CoreOptions } from './createCore.js';
import { createSession } from './session.js';

export interface ServeOptions extends CoreOptions {
  port?: number;
  host?: string;
  token?: string;
  /** Folder with the built renderer (index.html); default <package>/out/renderer. */
  rendererDir?: string;
  /** An already-built core (tests); default: createCore(options). */
  core?: Core;
}

export interface RunningServer {
  url: string;
  port: number;
  core: Core;
  server: Server;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The package root: this file sits two folders down both as source (core/host) and bundled (out/cli). */
export function packageRoot(): string {
  return resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function tokenMatches(expected: string | undefined, given: string | null): boolean {
  if (!expected) return true;
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function serveStatic(root: string, req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://x');
  let path = decodeURIComponent(url.pathname);
  if (path.endsWith('/')) path += 'index.html';
  const file = normalize(join(root, path));
  if (!file.startsWith(root + sep) && file !== root) {
    res.writeHead(403).end('forbidden');
    return;
  }
  const target = existsSync(file) && statSync(file).isFile() ? file : join(root, 'index.html');
  if (!existsSync(target)) {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end(`The renderer is not built (${root}). Run: npm run build`);
    return;
  }
  res.writeHead(200, {
    'content-type': MIME[extname(target)] ?? 'application/octet-stream',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': target.endsWith('index.html') ? 'no-cache' : 'public, max-age=3600',
  });
  createReadStream(target).pipe(res);
}

export async function serve(opts: ServeOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host) && !opts.token) {
    throw new Error(`refusing to listen on ${host} without --token (anyone on the network could drive the trainer)`);
  }
  const rendererDir = resolve(opts.rendererDir ?? join(packageRoot(), 'out', 'renderer'));
  const core = opts.core ?? (await (await import('./createCore.js')).createCore(opts));

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    serveStatic(rendererDir, req, res);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const origin = req.headers.origin;
    const sameOrigin = !origin || new URL(origin).host === req.headers.host;
    if (url.pathname !== '/ws' || !sameOrigin || !tokenMatches(opts.token, url.searchParams.get('token'))) {
      socket.write('HTTP/1.1 403 Forbidden\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws: WebSocket) => {
    const session = createSession(core.handlers, core.hub, (msg) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    });
    ws.on('message', (data) => session.receive(data.toString()));
    ws.on('close', () => session.close());
    ws.on('error', () => session.close());
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 7860, host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 7860);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    core,
    server,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((ok) => server.close(() => ok()));
      await core.close();
    },
  };
}
