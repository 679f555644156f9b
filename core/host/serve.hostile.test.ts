/**
 * Hostile clients against a real `switchyard serve` process (the CLI, in a child, with a token and a
 * real runs folder): malformed HTTP, DNS-rebinding Host values, bad Origins, path escapes through the
 * protocol, and random request fuzz. After every vector the process must still be alive and healthy,
 * and nothing may be written outside the runs folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createRng } from '../space/rng.js';
import { REPO_ROOT } from '../train/runCliProcess.js';

const TOKEN = 'hostile-test-token';
let child: ChildProcess;
let port = 0;
let root = '';
let stderr = '';
const tally = { requests: 0, crashes: 0 };

/** Send raw bytes, return the status line of the answer ('' if the server just closed). */
function raw(bytes: string | Buffer, timeoutMs = 3000): Promise<string> {
  tally.requests++;
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      s.destroy();
      resolve(got.split('\r\n')[0] ?? '');
    };
    s.setTimeout(timeoutMs, done);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) done();
    });
    s.on('error', done);
    s.on('close', done);
    s.write(bytes);
  });
}

const get = (target: string, headers: Record<string, string> = { host: `127.0.0.1:${port}` }) =>
  raw(`GET ${target} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}connection: close\r\n\r\n`);

function upgrade(headers: Record<string, string>, target = `/ws?token=${TOKEN}`) {
  return get(target, {
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    ...headers,
  });
}

async function healthy(): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return false;
  try {
    const r = await fetch(`http://127.0.0.1:${port}/api/health`);
    return r.ok && ((await r.json()) as { ok?: boolean }).ok === true;
  } catch {
    return false;
  }
}

async function expectAlive(what: string) {
  const ok = await healthy();
  if (!ok) tally.crashes++;
  expect(ok, `serve died or stalled after ${what}; stderr: ${stderr.slice(-500)}`).toBe(true);
}

function call(method: string, params: unknown): Promise<{ t: string; error?: { code: string; message: string; issues?: { path: string }[] }; data?: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ t: 'call', id: 1, method, params })));
    ws.once('message', (d) => {
      resolve(JSON.parse(d.toString()));
      ws.close();
    });
  });
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(p);
    if (statSync(p).isDirectory()) out.push(...listTree(p));
  }
  return out.sort();
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'sw-hostile-'));
  mkdirSync(join(root, 'runs'));
  mkdirSync(join(root, 'outside-run'));
  child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'core/host/cliMain.ts'), 'serve', '--port', '0', '--token', TOKEN, '--runs-dir', join(root, 'runs'), '--backend', 'cpu'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr!.on('data', (d) => (stderr += d));
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /serving http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
});

afterAll(() => {
  child?.kill('SIGTERM');
  console.log(`hostile serve: ${tally.requests} requests tried, ${tally.crashes} crashes`);
  rmSync(root, { recursive: true, force: true });
});

describe('serve under hostile requests', () => {
  it('survives the requests that used to kill it, and answers them with 4xx', async () => {
    for (const target of ['//', '/%', '/%E0%A4%A', '//..//..//etc/passwd', '/%FF%FE', '/%C0%AF']) {
      const status = await get(target);
      expect(status, target).toMatch(/^HTTP\/1\.1 4\d\d/);
      await expectAlive(`GET ${target}`);
    }
    for (const origin of ['null', '::::', 'http://[', 'http://%', '']) {
      expect(await upgrade({ host: `127.0.0.1:${port}`, origin }), origin).toMatch(/^HTTP\/1\.1 403/);
      await expectAlive(`upgrade with Origin ${JSON.stringify(origin)}`);
    }
  });

  it('refuses DNS rebinding: a foreign Host, even with a matching Origin and the token', async () => {
    const evil = `attacker.example:${port}`;
    expect(await get('/', { host: evil })).toMatch(/^HTTP\/1\.1 421/);
    expect(await get('/api/health', { host: evil })).toMatch(/^HTTP\/1\.1 421/);
    expect(await upgrade({ host: evil, origin: `http://${evil}` })).toMatch(/^HTTP\/1\.1 403/);
    expect(await upgrade({ host: `127.0.0.1.attacker.example:${port}`, origin: `http://127.0.0.1.attacker.example:${port}` })).toMatch(/^HTTP\/1\.1 403/);
    expect(await get('/', {})).toMatch(/^HTTP\/1\.1 4\d\d/); // no Host at all
    // This server's own origin still gets in.
    expect(await upgrade({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })).toMatch(/^HTTP\/1\.1 101/);
    await expectAlive('rebinding attempts');
  });

  it('survives 1,500 random requests (bad escapes, bytes, headers, methods, truncations)', async () => {
    const r = createRng(9);
    const rng = () => r.next();
    const pick = <T,>(xs: readonly T[]) => r.pick(xs);
    const pieces = ['/', '//', '%', '%E0', '%A4%A', '%00', '..', '%2f', '?', '#', '\\', 'ws', 'api', 'health', '%ZZ', '\u00e9', ' ', '\t', '*', '@', ':'];
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS', 'DELETE', 'CONNECT', 'BREW', ''];
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`, 'attacker.example', '', '[::1', `127.0.0.1:${port}:${port}`, '\u0000'];
    for (let i = 0; i < 1500; i++) {
      let target = '';
      const n = 1 + Math.floor(rng() * 6);
      for (let j = 0; j < n; j++) target += pick(pieces);
      const headers = [`Host: ${pick(hosts)}`];
      if (rng() < 0.3) headers.push(`Origin: ${pick(['null', 'http://evil.example', `http://127.0.0.1:${port}`, '%%%'])}`);
      if (rng() < 0.2) headers.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==');
      if (rng() < 0.1) headers.push(`X-${Math.floor(rng() * 1e6)}: ${'y'.repeat(Math.floor(rng() * 9000))}`);
      let req = `${pick(methods)} ${target} HTTP/1.${rng() < 0.9 ? 1 : 0}\r\n${headers.join('\r\n')}\r\n\r\n`;
      if (rng() < 0.1) req = req.slice(0, Math.floor(rng() * req.length)); // truncated
      if (rng() < 0.05) req = Buffer.from(Array.from({ length: 64 }, () => Math.floor(rng() * 256))).toString('latin1');
      await raw(Buffer.from(req, 'latin1'), 150); // a truncated request is left hanging: the server's timeouts reap it
      if (i % 100 === 99) await expectAlive(`fuzz batch ending at request ${i}`);
    }
    await expectAlive('the fuzz');
  });

  it('caps subscriptions: 20,000 listen frames on one connection leave it and the server responsive', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
    await new Promise((ok, fail) => (ws.once('open', ok), ws.once('error', fail)));
    let busy = 0;
    let listed: unknown = null;
    const gotList = new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as { t: string; id: number; error?: { code: string }; data?: unknown };
        if (m.t === 'error' && m.error?.code === 'busy') busy++;
        if (m.t === 'result' && m.id === 999_999) {
          listed = m.data;
          resolve();
        }
      }),
    );
    for (let id = 1; id <= 20_000; id++) ws.send(JSON.stringify({ t: 'listen', id, event: 'onRunEvent' }));
    ws.send(JSON.stringify({ t: 'call', id: 999_999, method: 'runs.list' }));
    tally.requests += 20_001;
    await gotList;
    expect(Array.isArray(listed)).toBe(true);
    expect(busy).toBe(20_000 - 64);
    await expectAlive('20,000 listens');
    ws.close();
  });

  it('queues 50 train.start calls: at most 2 train at once on CPU, the rest queued, all stoppable', async () => {
    const examples = (await call('space.examples', {})).data as { id: string; space: unknown }[];
    const space = examples.find((e) => e.id === 'spirals-moe')!.space;
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await call('train.start', { space, data: { kind: 'spirals', samples: 512 }, steps: 100_000, backend: 'cpu' });
      expect(r.t, JSON.stringify(r.error)).toBe('result');
      ids.push((r.data as { runId: string }).runId);
    }
    tally.requests += 50;
    const list = (await call('runs.list', {})).data as { id: string; status: string }[];
    const mine = list.filter((r) => ids.includes(r.id));
    expect(mine).toHaveLength(50);
    const active = mine.filter((r) => r.status === 'running' || r.status === 'starting').length;
    const queued = mine.filter((r) => r.status === 'queued').length;
    expect(queued).toBeGreaterThanOrEqual(48);
    expect(active + queued).toBe(50);
    await expectAlive('50 starts');
    // Stop the queued ones first (they must not start when a slot frees), then the training ones.
    for (const id of [...ids].reverse()) expect((await call('train.stop', { runId: id })).t).toBe('result');
    const after = (await call('runs.list', {})).data as { id: string; status: string }[];
    expect(after.filter((r) => ids.includes(r.id) && (r.status === 'running' || r.status === 'queued'))).toEqual([]);
  });

  it('never reads or writes outside the runs folder, and names the bad field', async () => {
    const before = listTree(root);
    const arch = { stages: [] };
    const escaped = await call('export.subnet', { runId: '../outside-run/evil', arch });
    expect(escaped.t).toBe('error');
    expect(escaped.error!.code).toMatch(/not_found|invalid/);
    const named = await call('export.subnet', { runId: 'x', arch, name: '../../outside-run' });
    expect(named.error!.code).toBe('invalid');
    expect(named.error!.issues?.[0]?.path).toBe('params.name');
    const absolute = await call('export.subnet', { runId: 'x', arch, outDir: join(root, 'outside-run') });
    expect(absolute.error!.code).toBe('invalid');
    const examples = (await call('space.examples', {})).data as { space: unknown }[];
    const probe = await call('train.start', { space: examples[0]!.space, data: { kind: 'fashion-mnist', dir: '/etc', flatten: true } });
    expect(probe.t).toBe('error');
    expect(JSON.stringify(probe.error)).toMatch(/data\.dir/);
    expect(listTree(root)).toEqual(before);
    await expectAlive('path escapes');
  });

  it('prints one line, not a stack trace, for --host 0.0.0.0 without a token', async () => {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'core/host/cliMain.ts'), 'serve', '--host', '0.0.0.0', '--port', '0'], { cwd: REPO_ROOT });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.on('close', (code) => resolve({ code, err }));
    });
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines[0]).toMatch(/refusing to listen on 0\.0\.0\.0 without --token/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
