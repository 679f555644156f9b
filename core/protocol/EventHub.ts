/**
 * Publishes the protocol's events to subscribers; each subscriber's params decide what it receives.
 * It lives with the protocol (not the host) because trainers and searches below the host emit into it.
 */
import type { EventData, EventName, EventParamsParsed } from './protocol.js';

type Listener<E extends EventName> = (data: EventData<E>) => void;

/** Publishes events to subscribers; each subscriber's params decide what it receives. */
export class EventHub {
  private readonly subs = new Map<EventName, Set<{ params: unknown; fn: (data: unknown) => void }>>();

  subscribe<E extends EventName>(event: E, params: EventParamsParsed<E>, fn: Listener<E>): () => void {
    let set = this.subs.get(event);
    if (!set) this.subs.set(event, (set = new Set()));
    const entry = { params, fn: fn as (d: unknown) => void };
    set.add(entry);
    return () => set!.delete(entry);
  }

  emit<E extends EventName>(event: E, data: EventData<E>): void {
    const set = this.subs.get(event);
    if (!set) return;
    for (const s of [...set]) if (matches(event, s.params, data)) s.fn(data);
  }

  listenerCount(event: EventName): number {
    return this.subs.get(event)?.size ?? 0;
  }
}

function matches(event: EventName, params: unknown, data: unknown): boolean {
  const p = (params ?? {}) as Record<string, unknown>;
  const d = data as Record<string, unknown>;
  if (event === 'onRunEvent' && p.runId) return d.runId === p.runId;
  if (event === 'onSearchEvent' && p.searchId) return d.searchId === p.searchId;
  return true;
}
