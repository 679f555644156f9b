import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientMessage } from '../../../core/protocol/protocol.js';
import { CoreClient } from './CoreClient.js';
import { WebSocketTransport } from './WebSocketTransport.js';

/** Just enough of the browser WebSocket for the transport; each test opens and drops it by hand. */
class FakeWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 3;
  static all: FakeWebSocket[] = [];
  readyState = FakeWebSocket.CONNECTING;
  sent: ClientMessage[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text) as ClientMessage);
  }
  close() {
    this.drop();
  }
  open() {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
  }
  drop() {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.();
  }
}

const latest = () => FakeWebSocket.all.at(-1)!;
const calls = (ws: FakeWebSocket) => ws.sent.filter((m) => m.t === 'call');

describe('WebSocketTransport with CoreClient across reconnects', () => {
  beforeEach(() => {
    FakeWebSocket.all = [];
    vi.useFakeTimers();
    vi.stubGlobal('WebSocket', FakeWebSocket);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  async function connected() {
    const t = new WebSocketTransport('ws://127.0.0.1:7860/ws');
    const client = new CoreClient(t);
    await vi.advanceTimersByTimeAsync(0);
    latest().open();
    return { t, client };
  }

  it('never sends, after the reconnect, a call made while disconnected and already reported failed', async () => {
    const { client } = await connected();
    latest().drop();
    const failed = client.call('train.stop', { runId: 'r1' });
    const outcome = failed.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(300); // the reconnect attempt starts: pending calls fail
    expect(await outcome).toMatchObject({ code: 'disconnected' });
    latest().open();
    expect(calls(latest())).toEqual([]);
  });

  it('never sends a call whose connection attempt failed, and still sends one made while connecting', async () => {
    const { client } = await connected();
    latest().drop();
    await vi.advanceTimersByTimeAsync(300);
    const lost = client.call('train.stop', { runId: 'lost' }).catch((e: unknown) => e);
    latest().drop(); // this attempt fails too
    expect(await lost).toMatchObject({ code: 'disconnected' });
    await vi.advanceTimersByTimeAsync(600);
    const kept = client.call('train.stop', { runId: 'kept' });
    latest().open();
    expect(calls(latest())).toMatchObject([{ method: 'train.stop', params: { runId: 'kept' } }]);
    const id = calls(latest())[0]!.id;
    latest().onmessage?.({ data: JSON.stringify({ t: 'result', id, data: { stopped: true } }) });
    await expect(kept).resolves.toEqual({ stopped: true });
  });

  it('renews subscriptions once after a reconnect (queued listens are not sent twice)', async () => {
    const { client } = await connected();
    latest().drop();
    client.listen('onRunEvent', { runId: 'r1' }, () => {});
    await vi.advanceTimersByTimeAsync(300);
    latest().open();
    expect(latest().sent.filter((m) => m.t === 'listen')).toHaveLength(1);
  });
});
