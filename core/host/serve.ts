/**
 * The headless host: the core under plain Node, serving the built renderer and the protocol over a
 * WebSocket (`/ws`). Binds 127.0.0.1 by default; binding anything else requires a token. Every request
 * must name this server in its Host header (DNS rebinding) and a browser's upgrade must come from this
 * server's own origin (see requestGuard.ts); no request, however malformed, may throw out of a handler.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join, normalize, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { ProtocolError } from '../protocol/protocol.js';
import { contentTypeOf } from './contentType.js';
import type { Core, CoreOptions } from './createCore.js';
import { EXPORT_ZIP_PREFIX, parseExportZipPath } from '../protocol/exportZipPath.js';
import { ExportNotFound, exportZip } from './exportZip.js';
import { hostAllowed, hostPolicy, isLoopback, originAllowed, parseTarget, type HostPolicy } from './requestGuard.js';
import { createSession } from './session.js';

export interface ServeOptions extends CoreOptions {
  port?: number;
  host?: string;
  token?: string;
  /** Folder with the built renderer (index.html); default <package>/out/renderer. */
  rendererDir?: string;
  /** An already-built core (tests); default: createCore(options). */
  core?: Core;
  /** Extra Host names this server answers to (a reverse proxy's name, a DNS name of this machine). */
  allowHosts?: string[];
  /** Open WebSocket connections at once (default 32); more are refused with 503. */
  maxConnections?: number;
  /** A client that lets this much unsent data pile up (bytes, default 64 MiB) is disconnected. */
  maxBufferedBytes?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  core: Core;
  server: Server;
  close(): Promise<void>;
}

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

function tokenMatches(expected: string | undefined, given: string | null): boolean {
  if (!expected) return true;
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function serveStatic(root: string, path: string, req: IncomingMessage, res: ServerResponse) {
  if (path.endsWith('/')) path += 'index.html';
  const file = normalize(join(root, path));
  if (!file.startsWith(root + sep) && file !== root) {
    res.writeHead(403).end('forbidden');
    return;
  }
  let target = join(root, 'index.html');
  try {
    if (statSync(file).isFile()) target = file;
  } catch {
    // not a file: the app's own routes fall back to index.html
  }
  if (!existsSync(target)) {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end(`The renderer is not built (${root}). Run: npm run build`);
    return;
  }
  res.writeHead(200, {
    'content-type': contentTypeOf(target),
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': target.endsWith('index.html') ? 'no-cache' : 'public, max-age=3600',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(target);
  stream.once('error', () => res.destroy());
  stream.pipe(res);
}

/** `/api/exports/<run>/<name>.zip`: the export folder as a zip download. */
function sendExportZip(runsDir: string, path: string, req: IncomingMessage, res: ServerResponse) {
  const ref = parseExportZipPath(path);
  if (!ref) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('no such export');
    return;
  }
  exportZip(runsDir, ref.runId, ref.name).then(
    (data) => {
      res.writeHead(200, {
        'content-type': 'application/zip',
        'content-length': data.byteLength,
        'content-disposition': `attachment; filename="${ref.runId}-${ref.name}.zip"`,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : data);
    },
    (e: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof ExportNotFound) res.writeHead(404, { 'content-type': 'text/plain' }).end(e.message);
      else {
        console.error(`switchyard serve: export zip ${path}: ${e instanceof Error ? e.message : e}`);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('the export could not be packed');
      }
    },
  );
}

function refuseSocket(socket: Duplex, status: string) {
  try {
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  } catch {
    // already gone
  }
  socket.destroy();
}

export async function serve(opts: ServeOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host) && !opts.token) {
    throw new ProtocolError('invalid', `refusing to listen on ${host} without --token (anyone on the network could drive the trainer)`, [
      { path: '--token', message: 'required when --host is not a loopback address' },
    ]);
  }
  const rendererDir = resolve(opts.rendererDir ?? join(packageRoot(), 'out', 'renderer'));
  const core = opts.core ?? (await (await import('./createCore.js')).createCore(opts));
  const maxConnections = opts.maxConnections ?? 32;
  const maxBuffered = opts.maxBufferedBytes ?? 64 * 1024 * 1024;
  // Known once listening (port 0 picks one); until then nothing is accepted.
  let policy: HostPolicy | null = null;

  const server = createServer((req, res) => {
    try {
      if (!policy || !hostAllowed(policy, req.headers.host)) {
        res.writeHead(421, { 'content-type': 'text/plain' }).end('this server does not answer to that Host name');
        return;
      }
      const target = parseTarget(req.url);
      if (!target) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request target');
        return;
      }
      if (target.path === '/api/health') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true }));
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
        return;
      }
      if (target.path.startsWith(EXPORT_ZIP_PREFIX)) {
        // Guarded like /ws: the token comes as ?token= (a plain link) or the x-switchyard-token header.
        const header = req.headers['x-switchyard-token'];
        if (!tokenMatches(opts.token, target.query.get('token') ?? (typeof header === 'string' ? header : null))) {
          res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden');
          return;
        }
        sendExportZip(core.runsDir, target.path, req, res);
        return;
      }
      serveStatic(rendererDir, target.path, req, res);
    } catch (e) {
      // Nothing a client sends may take the server down; a bug here answers 500 and is logged.
      console.error(`switchyard serve: ${req.method} ${JSON.stringify(req.url)}: ${e instanceof Error ? e.message : e}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  });
  server.on('clientError', (_err, socket) => refuseSocket(socket, '400 Bad Request'));

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    try {
      const target = parseTarget(req.url);
      const origin = req.headers.origin;
      if (
        !policy ||
        !hostAllowed(policy, req.headers.host) ||
        !originAllowed(origin, req.headers.host) ||
        !target ||
        target.path !== '/ws' ||
        !tokenMatches(opts.token, target.query.get('token'))
      ) {
        refuseSocket(socket, '403 Forbidden');
        return;
      }
      if (wss.clients.size >= maxConnections) {
        refuseSocket(socket, '503 Service Unavailable');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } catch (e) {
      console.error(`switchyard serve: upgrade ${JSON.stringify(req.url)}: ${e instanceof Error ? e.message : e}`);
      refuseSocket(socket, '400 Bad Request');
    }
  });
  wss.on('connection', (ws: WebSocket) => {
    const session = createSession(
      core.handlers,
      core.hub,
      (msg) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
      },
      {
        // A client that does not read (or floods listens) must not make the host buffer without bound.
        maxBufferedBytes: maxBuffered,
        bufferedBytes: () => ws.bufferedAmount,
        onOverflow: () => {
          ws.close(1013, 'client too slow: unsent data over the limit');
          ws.terminate();
        },
      },
    );
    ws.on('message', (data) => session.receive(data.toString()));
    ws.on('close', () => session.close());
    ws.on('error', () => session.close());
  });

  const wanted = opts.port ?? 7860;
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'permission denied' : e.message;
      fail(new ProtocolError('failed', `cannot listen on ${host}:${wanted}: ${why}`));
    });
    server.listen(wanted, host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : wanted;
  policy = hostPolicy(host, port, opts.allowHosts);
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
