import { describe, expect, it } from 'vitest';
import type { ClientMessage, HostMessage } from '../../../core/protocol/protocol.js';
import { CoreClient, CoreError } from './CoreClient.js';
import { Emitter, type Transport, type TransportStatus } from './Transport.js';
import { backoffMs, webSocketUrl } from './WebSocketTransport.js';
import { statusFromHost } from './ElectronTransport.js';

class FakeTransport implements Transport {
  sent: ClientMessage[] = [];
  readonly messages = new Emitter<HostMessage>();
  readonly status = new Emitter<TransportStatus>();
  send(msg: ClientMessage) {
    this.sent.push(msg);
  }
  onMessage(fn: (m: HostMessage) => void) {
    return this.messages.on(fn);
  }
  onStatus(fn: (s: TransportStatus) => void) {
    return this.status.on(fn);
  }
  close() {}
}

const hello = { protocol: 1, version: '0.1.0', backend: null, runsDir: '/tmp/r' };

describe('CoreClient', () => {
  it('resolves a call with its validated result and rejects a host error with its issue paths', async () => {
    const t = new FakeTransport();
    const c = new CoreClient(t);
    const p = c.call('host.hello', {});
    const call = t.sent[0]!;
    expect(call).toMatchObject({ t: 'call', method: 'host.hello' });
    t.messages.emit({ t: 'result', id: call.id, data: hello });
    await expect(p).resolves.toEqual(hello);

    const bad = c.call('runs.get', { runId: 'x' });
    t.messages.emit({ t: 'error', id: t.sent[1]!.id, error: { code: 'invalid', message: 'nope', issues: [{ path: 'params.runId', message: 'bad' }] } });
    const err = await bad.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe('invalid');
    expect((err as CoreError).issues[0]!.path).toBe('params.runId');
  });

  it('rejects a result that does not match the method schema', async () => {
    const t = new FakeTransport();
    const c = new CoreClient(t);
    const p = c.call('host.hello', {});
    t.messages.emit({ t: 'result', id: t.sent[0]!.id, data: { protocol: 'one' } });
    await expect(p).rejects.toMatchObject({ code: 'bad_result' });
  });

  it('sends cancel when the signal aborts and rejects the call', async () => {
    const t = new FakeTransport();
    const c = new CoreClient(t);
    const ac = new AbortController();
    const p = c.call('space.validate', { space: {} }, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'cancelled' });
    expect(t.sent[1]).toEqual({ t: 'cancel', id: t.sent[0]!.id });
    // a late result for the cancelled call is ignored
    t.messages.emit({ t: 'result', id: t.sent[0]!.id, data: { ok: true, issues: [], cardinality: 1, params: 1 } });
  });

  it('delivers events to their listener, drops malformed ones, disposes and re-listens after a reconnect', () => {
    const t = new FakeTransport();
    const c = new CoreClient(t);
    t.status.emit('open');
    const got: string[] = [];
    const off = c.listen('onRunEvent', { runId: 'r1' }, (e) => got.push(e.kind));
    const listen = t.sent[0]!;
    expect(listen).toMatchObject({ t: 'listen', event: 'onRunEvent', params: { runId: 'r1' } });
    t.messages.emit({ t: 'event', id: listen.id, data: { kind: 'log', runId: 'r1', level: 'info', message: 'hi' } });
    t.messages.emit({ t: 'event', id: listen.id, data: { kind: 'nonsense' } });
    expect(got).toEqual(['log']);

    const pending = c.call('runs.list', {});
    t.status.emit('closed');
    t.status.emit('open');
    expect(t.sent.filter((m) => m.t === 'listen').length).toBe(2);
    off();
    expect(t.sent.at(-1)).toEqual({ t: 'dispose', id: listen.id });
    return expect(pending).rejects.toMatchObject({ code: 'disconnected' });
  });
});

describe('transports', () => {
  it('builds the /ws URL of the page host and forwards its token', () => {
    expect(webSocketUrl({ protocol: 'http:', host: '127.0.0.1:7860', search: '' })).toBe('ws://127.0.0.1:7860/ws');
    expect(webSocketUrl({ protocol: 'https:', host: 'h:1', search: '?token=a b&x=1' })).toBe('wss://h:1/ws?token=a%20b');
  });
  it('backs off exponentially up to 5 s', () => {
    expect([0, 1, 2, 3, 10].map(backoffMs)).toEqual([250, 500, 1000, 2000, 5000]);
  });
  it('maps the Electron host status onto the transport status', () => {
    expect(statusFromHost('ready')).toBe('open');
    expect(statusFromHost('restarting')).toBe('restarting');
    expect(statusFromHost('crashed')).toBe('closed');
  });
});
