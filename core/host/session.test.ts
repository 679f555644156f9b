import { describe, expect, it } from 'vitest';
import type { HostMessage } from '../protocol/protocol.js';
import { createSession, DEFAULT_MAX_SUBSCRIPTIONS, EventHub, type Handlers } from './session.js';

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

describe('session limits', () => {
  const metrics = (runId: string, step: number) => ({ kind: 'log' as const, runId, level: 'info' as const, message: `step ${step}` });

  it('caps subscriptions per connection: 20,000 listens hold at most the cap, and a 60-step run is delivered at most cap times', async () => {
    const hub = new EventHub();
    const out: HostMessage[] = [];
    const s = createSession(fakeHandlers({ 'runs.list': async () => [] }), hub, (m) => out.push(m));
    for (let id = 1; id <= 20_000; id++) s.receive({ t: 'listen', id, event: 'onRunEvent', params: { runId: 'r1' } });
    expect(hub.listenerCount('onRunEvent')).toBe(DEFAULT_MAX_SUBSCRIPTIONS);
    const refusals = out.filter((m) => m.t === 'error');
    expect(refusals).toHaveLength(20_000 - DEFAULT_MAX_SUBSCRIPTIONS);
    expect(refusals[0]).toMatchObject({ t: 'error', id: DEFAULT_MAX_SUBSCRIPTIONS + 1, error: { code: 'busy' } });
    expect(refusals[0]!.t === 'error' && refusals[0]!.error.message).toContain(`limit is ${DEFAULT_MAX_SUBSCRIPTIONS}`);
    out.length = 0;

    for (let step = 1; step <= 60; step++) hub.emit('onRunEvent', metrics('r1', step));
    expect(out).toHaveLength(60 * DEFAULT_MAX_SUBSCRIPTIONS);

    // Still responsive: a call is answered, and a disposed slot can be reused.
    s.receive({ t: 'call', id: 50_000, method: 'runs.list' });
    await new Promise((r) => setTimeout(r, 5));
    expect(out.at(-1)).toEqual({ t: 'result', id: 50_000, data: [] });
    s.receive({ t: 'dispose', id: 1 });
    s.receive({ t: 'listen', id: 50_001, event: 'onSearchEvent' });
    expect(hub.listenerCount('onRunEvent') + hub.listenerCount('onSearchEvent')).toBe(DEFAULT_MAX_SUBSCRIPTIONS);
    expect(out.at(-1)?.t).not.toBe('error');
  });

  it('lets a client re-listen on an id it holds at the cap, and takes the cap as an option', () => {
    const out: HostMessage[] = [];
    const hub = new EventHub();
    const s = createSession(fakeHandlers(), hub, (m) => out.push(m), { maxSubscriptions: 2 });
    s.receive({ t: 'listen', id: 1, event: 'onRunEvent' });
    s.receive({ t: 'listen', id: 2, event: 'onRunEvent' });
    s.receive({ t: 'listen', id: 2, event: 'onRunEvent', params: { runId: 'r' } });
    expect(out).toEqual([]);
    s.receive({ t: 'listen', id: 3, event: 'onRunEvent' });
    expect(out).toMatchObject([{ t: 'error', id: 3, error: { code: 'busy' } }]);
    expect(hub.listenerCount('onRunEvent')).toBe(2);
  });

  it('cuts off a client that stops reading instead of buffering for it without bound', () => {
    const hub = new EventHub();
    let buffered = 0;
    let overflows = 0;
    const s = createSession(fakeHandlers(), hub, (m) => (buffered += JSON.stringify(m).length), {
      bufferedBytes: () => buffered,
      maxBufferedBytes: 10_000,
      onOverflow: () => overflows++,
    });
    s.receive({ t: 'listen', id: 1, event: 'onRunEvent' });
    for (let step = 0; step < 10_000; step++) hub.emit('onRunEvent', metrics('r1', step));
    expect(buffered).toBeLessThan(10_000 + 200);
    expect(overflows).toBe(1);
    expect(hub.listenerCount('onRunEvent')).toBe(0);
  });
});
