import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { HostMessage } from '../protocol/protocol.js';
import type { Core } from './createCore.js';
import { serve, type RunningServer } from './serve.js';
import { EventHub, type Handlers } from './session.js';

function fakeCore(): Core {
  const handlers = { 'runs.list': async () => [] } as unknown as Handlers;
  return { handlers, hub: new EventHub(), runsDir: '/tmp/x', close: async () => {} };
}

function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => ok(ws));
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)));
  });
}

describe('serve', () => {
  let s: RunningServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sw-serve-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Switchyard</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    s = await serve({ port: 0, rendererDir: dir, token: 'secret-token', core: fakeCore() });
  });
  afterAll(async () => s?.close());

  it('serves the renderer with a CSP, and index.html for app routes', async () => {
    const r = await fetch(new URL('app.js', s.url));
    expect(r.headers.get('content-type')).toContain('javascript');
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    const deep = await fetch(new URL('runs/abc', s.url));
    expect(await deep.text()).toContain('<title>Switchyard</title>');
  });

  it('does not serve files outside the renderer folder', async () => {
    const r = await fetch(new URL('/..%2f..%2fetc/passwd', s.url));
    expect([403, 200]).toContain(r.status);
    expect(await r.text()).not.toContain('root:');
  });

  it('answers protocol calls over the WebSocket with the right token', async () => {
    const ws = await connect(`${s.url.replace('http', 'ws')}ws?token=secret-token`);
    const reply = new Promise<HostMessage>((ok) => ws.once('message', (d) => ok(JSON.parse(d.toString()))));
    ws.send(JSON.stringify({ t: 'call', id: 1, method: 'runs.list' }));
    expect(await reply).toEqual({ t: 'result', id: 1, data: [] });
    ws.close();
  });

  it('refuses a wrong token and a foreign origin', async () => {
    await expect(connect(`${s.url.replace('http', 'ws')}ws?token=nope`)).rejects.toThrow(/403/);
    await expect(
      connect(`${s.url.replace('http', 'ws')}ws?token=secret-token`, { origin: 'http://evil.example' }),
    ).rejects.toThrow(/403/);
  });

  it('refuses to listen beyond loopback without a token', async () => {
    await expect(serve({ host: '0.0.0.0', port: 0, core: fakeCore() })).rejects.toThrow(/without --token/);
  });
});
