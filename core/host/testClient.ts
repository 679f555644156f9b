/**
 * A test client of an assembled core: one session whose messages land in `inbox`, and `call`, which sends a
 * request and waits for its answer (events stay in the inbox for the test to read).
 */
import type { HostMessage } from '../protocol/protocol.js';
import type { Core } from './createCore.js';
import { createSession, type Session } from './session.js';

export interface TestClient {
  session: Session;
  inbox: HostMessage[];
  call(method: string, params?: unknown): Promise<HostMessage>;
}

export function testClient(core: Core, opts: { timeoutMs?: number } = {}): TestClient {
  const inbox: HostMessage[] = [];
  const session = createSession(core.handlers, core.hub, (m) => inbox.push(m));
  let nextId = 1;
  const polls = Math.ceil((opts.timeoutMs ?? 20_000) / 10);
  return {
    session,
    inbox,
    async call(method, params) {
      const id = nextId++;
      session.receive({ t: 'call', id, method, params });
      for (let i = 0; i < polls; i++) {
        const k = inbox.findIndex((m) => m.id === id && m.t !== 'event');
        if (k >= 0) return inbox.splice(k, 1)[0]!;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no answer to ${method}`);
    },
  };
}
