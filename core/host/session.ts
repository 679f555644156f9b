/**
 * One client's session with the core: validates every incoming message against the protocol, runs
 * calls (cancellable through an AbortSignal), keeps subscriptions until disposed, and answers bad input
 * with an error naming the bad field's path. Transport-agnostic: the WebSocket server and the Electron
 * utility process both feed it parsed JSON and give it a `send`.
 */
import {
  ClientMessage,
  events,
  isEventName,
  isMethodName,
  methods,
  parseOrThrow,
  ProtocolError,
  type EventData,
  type EventName,
  type EventParamsParsed,
  type HostMessage,
  type MethodName,
  type MethodParamsParsed,
  type MethodResult,
} from '../protocol/protocol.js';
import { EventHub } from '../protocol/EventHub.js';

export { EventHub };

export interface CallContext {
  signal: AbortSignal;
}

export type Handlers = {
  [M in MethodName]: (params: MethodParamsParsed<M>, ctx: CallContext) => Promise<MethodResult<M>>;
};


export interface Session {
  /** Feed one raw message (already JSON-parsed, or a string to parse). */
  receive(raw: unknown): void;
  /** Cancel every call and dispose every subscription (the client went away). */
  close(): void;
}

/** Subscriptions one connection may hold at once (see SessionOptions.maxSubscriptions). */
export const DEFAULT_MAX_SUBSCRIPTIONS = 64;
/** Bytes a client may leave unread before it is cut off (see SessionOptions.maxBufferedBytes). */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface SessionOptions {
  /**
   * Live subscriptions per connection. Every event is sent once per subscription, so without a cap one
   * client could multiply each event without bound (20,000 listens turned a 60-step run into 1.4M
   * messages). A listen beyond the cap is answered with a 'busy' error; re-listening on an id the
   * client already holds replaces that subscription and is always allowed.
   */
  maxSubscriptions?: number;
  /** Bytes sent to this client but not yet written out (a WebSocket's `bufferedAmount`). */
  bufferedBytes?: () => number;
  /** Beyond this many unwritten bytes the client is not keeping up: the session closes itself. */
  maxBufferedBytes?: number;
  /**
   * Called once when the session closed itself because the client fell behind by more than
   * maxBufferedBytes; the host should drop the connection (the client reconnects and reloads).
   */
  onOverflow?: () => void;
}

export function createSession(
  handlers: Handlers,
  hub: EventHub,
  send: (msg: HostMessage) => void,
  opts: SessionOptions = {},
): Session {
  const maxSubs = opts.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS;
  const maxBuffered = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const calls = new Map<number, AbortController>();
  const subs = new Map<number, () => void>();
  let closed = false;
  const out = (msg: HostMessage) => {
    if (closed) return;
    if (opts.bufferedBytes && opts.bufferedBytes() > maxBuffered) {
      // Queueing more for a client that does not read would grow the host's memory without bound.
      session.close();
      opts.onOverflow?.();
      return;
    }
    send(msg);
  };

  function fail(id: number, err: unknown) {
    const pe =
      err instanceof ProtocolError
        ? err
        : new ProtocolError('failed', err instanceof Error ? err.message : String(err));
    out({ t: 'error', id, error: pe.toData() });
  }

  async function call(id: number, method: string, rawParams: unknown) {
    if (!isMethodName(method)) throw new ProtocolError('unknown_method', `unknown method "${method}"`);
    const params = parseOrThrow(methods[method].params, rawParams ?? {}, `params for ${method}`, ['params']);
    const ac = new AbortController();
    calls.set(id, ac);
    try {
      const handler = handlers[method] as (p: unknown, c: CallContext) => Promise<unknown>;
      const result = await handler(params, { signal: ac.signal });
      if (ac.signal.aborted) throw new ProtocolError('cancelled', `${method} was cancelled`);
      out({ t: 'result', id, data: result });
    } finally {
      calls.delete(id);
    }
  }

  function listen(id: number, event: string, rawParams: unknown) {
    if (!isEventName(event)) throw new ProtocolError('unknown_method', `unknown event "${event}"`);
    const params = parseOrThrow(events[event].params, rawParams ?? {}, `params for ${event}`, ['params']);
    if (!subs.has(id) && subs.size >= maxSubs) {
      throw new ProtocolError(
        'busy',
        `too many subscriptions on this connection: the limit is ${maxSubs}; dispose one before listening again`,
      );
    }
    subs.get(id)?.();
    subs.set(
      id,
      hub.subscribe(event, params as never, (data) => out({ t: 'event', id, data })),
    );
  }

  const session: Session = {
    receive(raw) {
      if (closed) return;
      let value = raw;
      let id = -1;
      try {
        if (typeof raw === 'string') {
          try {
            value = JSON.parse(raw);
          } catch {
            throw new ProtocolError('invalid', 'message is not valid JSON');
          }
        }
        const maybeId = (value as { id?: unknown })?.id;
        if (typeof maybeId === 'number') id = maybeId;
        const msg = parseOrThrow(ClientMessage, value, 'message');
        id = msg.id;
        switch (msg.t) {
          case 'call':
            call(msg.id, msg.method, msg.params).catch((e) => fail(msg.id, e));
            break;
          case 'cancel':
            calls.get(msg.id)?.abort();
            break;
          case 'listen':
            listen(msg.id, msg.event, msg.params);
            break;
          case 'dispose':
            subs.get(msg.id)?.();
            subs.delete(msg.id);
            break;
        }
      } catch (e) {
        fail(id, e);
      }
    },
    close() {
      closed = true;
      for (const ac of calls.values()) ac.abort();
      for (const d of subs.values()) d();
      calls.clear();
      subs.clear();
    },
  };
  return session;
}
