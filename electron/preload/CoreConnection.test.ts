import { describe, expect, it } from 'vitest';
import type { ClientMessage } from '../../core/protocol/protocol.js';
import { CoreConnection, type CorePort } from './CoreConnection.js';

class FakePort implements CorePort {
  onmessage: ((e: MessageEvent) => void) | null = null;
  sent: unknown[] = [];
  closed = false;
  postMessage(m: unknown) {
    this.sent.push(m);
  }
  start() {}
  close() {
    this.closed = true;
  }
}

const call = (id: number): ClientMessage => ({ t: 'call', id, method: 'runs.list', params: {} });

describe('preload CoreConnection', () => {
  it('queues until the first port, then delivers in order', () => {
    const c = new CoreConnection();
    c.send(call(1));
    const port = new FakePort();
    c.attach(port);
    c.send(call(2));
    expect(port.sent).toEqual([call(1), call(2)]);
  });

  it('never delivers to a restarted core a call queued while the core was down and reported failed', () => {
    const c = new CoreConnection();
    const first = new FakePort();
    c.attach(first);
    c.status('ready');
    c.status('crashed');
    c.send(call(3)); // the page's CoreClient fails it at the next status change
    c.status('restarting');
    c.send(call(4)); // still pending: no status change follows before the port
    c.status('restarting');
    const second = new FakePort();
    c.attach(second);
    c.status('ready');
    expect(first.closed).toBe(true);
    expect(second.sent).toEqual([call(4)]);
  });

  it('passes the host messages of the current port to the page', () => {
    const c = new CoreConnection();
    const got: unknown[] = [];
    c.messageListeners.add((m) => got.push(m));
    const port = new FakePort();
    c.attach(port);
    port.onmessage?.({ data: { t: 'result', id: 1, data: [] } } as MessageEvent);
    expect(got).toEqual([{ t: 'result', id: 1, data: [] }]);
  });
});
