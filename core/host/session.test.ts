import { describe, expect, it } from 'vitest';
import type { HostMessage } from '../protocol/protocol.js';
import { createSession, EventHub, type Handlers } from './session.js';

function fakeHandlers(over: Partial<Handlers> = {}): Handlers {
  const never = async () => {
    throw new Error('not used');
  };
  return new Proxy(over as Handlers, { get: (t, k) => (t as Record<string, unknown>)[k as string] ?? never });
}

function harness(handlers: Handlers, hub = new EventHub()) {
  const out: HostMessage[] = [];
  const s = createSession(handlers, hub, (m) => out.push(m));
  const next = async () => {
    for (let i = 0; i < 50 && out.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    return out.shift();
  };
  return { s, out, next, hub };
}

describe('session', () => {
  it('answers a call with its result', async () => {
    const h = harness(fakeHandlers({ 'runs.list': async () => [] }));
    h.s.receive(JSON.stringify({ t: 'call', id: 1, method: 'runs.list' }));
    expect(await h.next()).toEqual({ t: 'result', id: 1, data: [] });
  });

  it('names the bad field path for invalid params', async () => {
    const h = harness(fakeHandlers());
    h.s.receive({ t: 'call', id: 7, method: 'train.stop', params: { runId: 42 } });
    const m = await h.next();
    expect(m?.t).toBe('error');
    if (m?.t !== 'error') return;
    expect(m.id).toBe(7);
    expect(m.error.code).toBe('invalid');
    expect(m.error.issues?.[0]?.path).toBe('params.runId');
    expect(m.error.message).toContain('params.runId');
  });

  it('reports nested search-space paths in train.start', async () => {
    const h = harness(fakeHandlers());
    h.s.receive({
      t: 'call',
      id: 3,
      method: 'train.start',
      params: {
        space: { name: 's', input: { kind: 'vector', dim: 2 }, numClasses: 2, stages: [{ id: 'a', depth: [1], block: { type: 'moe', experts: 0, expertHidden: [8] } }] },
        data: { kind: 'spirals' },
      },
    });
    const m = await h.next();
    expect(m?.t === 'error' && m.error.issues?.map((i) => i.path)).toContain('params.space.stages[0].block.experts');
  });

  it('rejects malformed messages and unknown methods without crashing', async () => {
    const h = harness(fakeHandlers());
    h.s.receive('{not json');
    expect((await h.next()) as unknown).toMatchObject({ t: 'error', id: -1, error: { code: 'invalid' } });
    h.s.receive({ t: 'call', id: 2, method: 'nope' });
    expect(await h.next()).toMatchObject({ t: 'error', id: 2, error: { code: 'unknown_method' } });
    h.s.receive({ t: 'call', id: 'x', method: 'runs.list' });
    expect(await h.next()).toMatchObject({ t: 'error', error: { code: 'invalid' } });
  });

  it('cancels a call through its AbortSignal', async () => {
    let seen: AbortSignal | undefined;
    const h = harness(
      fakeHandlers({
        'runs.list': (_p, { signal }) =>
          new Promise((_, reject) => {
            seen = signal;
            signal.addEventListener('abort', () => reject(new Error('aborted')));
          }),
      }),
    );
    h.s.receive({ t: 'call', id: 5, method: 'runs.list' });
    await new Promise((r) => setTimeout(r, 5));
    h.s.receive({ t: 'cancel', id: 5 });
    expect(seen?.aborted).toBe(true);
    expect(await h.next()).toMatchObject({ t: 'error', id: 5 });
  });

  it('delivers events to listeners, filtered by runId, until disposed', async () => {
    const h = harness(fakeHandlers());
    h.s.receive({ t: 'listen', id: 9, event: 'onRunEvent', params: { runId: 'r1' } });
    const log = (runId: string) => ({ kind: 'log' as const, runId, level: 'info' as const, message: runId });
    h.hub.emit('onRunEvent', log('r2'));
    h.hub.emit('onRunEvent', log('r1'));
    expect(h.out).toEqual([{ t: 'event', id: 9, data: log('r1') }]);
    h.s.receive({ t: 'dispose', id: 9 });
    h.hub.emit('onRunEvent', log('r1'));
    expect(h.out).toHaveLength(1);
    expect(h.hub.listenerCount('onRunEvent')).toBe(0);
  });

  it('drops every subscription when closed', () => {
    const h = harness(fakeHandlers());
    h.s.receive({ t: 'listen', id: 1, event: 'onRunEvent' });
    h.s.receive({ t: 'listen', id: 2, event: 'onSearchEvent' });
    h.s.close();
    expect(h.hub.listenerCount('onRunEvent') + h.hub.listenerCount('onSearchEvent')).toBe(0);
  });
});
