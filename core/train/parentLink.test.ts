import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { parentLink } from './parentLink.js';
import type { ChildMessage, ParentMessage } from './trainProcessMessages.js';

const done: ChildMessage = { type: 'busy', message: 'held elsewhere' };

describe('parentLink', () => {
  it("talks over Electron's parent port when the child is a utility process", async () => {
    const posted: unknown[] = [];
    const port = new EventEmitter() as EventEmitter & { postMessage(m: unknown): void };
    port.postMessage = (m) => posted.push(m);
    const proc = Object.assign(new EventEmitter(), { parentPort: port, connected: false, send: undefined, disconnect: () => {} });
    const link = parentLink(proc as never);
    const got: ParentMessage[] = [];
    link.onMessage((m) => got.push(m));
    port.emit('message', { data: { type: 'stop' } });
    await link.send(done);
    expect(got).toEqual([{ type: 'stop' }]);
    expect(posted).toEqual([done]);
  });

  it("uses Node's IPC channel when forked, resolving a send once it is flushed", async () => {
    const sent: unknown[] = [];
    let disconnected = 0;
    const proc = Object.assign(new EventEmitter(), {
      connected: true,
      send: (m: unknown, _h: unknown, _o: unknown, cb: () => void) => {
        sent.push(m);
        setImmediate(cb);
        return true;
      },
      disconnect: () => disconnected++,
    });
    const link = parentLink(proc as never);
    const got: ParentMessage[] = [];
    let gone = 0;
    link.onMessage((m) => got.push(m));
    link.onGone(() => gone++);
    proc.emit('message', { type: 'stop' });
    proc.emit('disconnect');
    await link.send(done);
    link.close();
    expect([got, sent, gone, disconnected]).toEqual([[{ type: 'stop' }], [done], 1, 1]);
  });
});
