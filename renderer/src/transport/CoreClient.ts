/**
 * Typed calls and subscriptions over a Transport (VS Code IPC's call / cancel / listen / dispose).
 * Results and events are validated with the protocol's schemas, so the UI only ever sees well-formed,
 * defaults-filled data; a host error arrives as a CoreError carrying the bad fields' paths.
 */
import { events, methods } from '../../../core/protocol/protocol.js';
import type {
  EventData,
  EventName,
  EventParams,
  HostMessage,
  MethodName,
  MethodParams,
  MethodResult,
  ProtocolErrorData,
  ValidationIssue,
} from '../../../core/protocol/protocol.js';
import type { Transport, TransportStatus } from './Transport.js';

export class CoreError extends Error {
  readonly code: ProtocolErrorData['code'] | 'disconnected' | 'bad_result';
  readonly issues: ValidationIssue[];
  constructor(code: CoreError['code'], message: string, issues: ValidationIssue[] = []) {
    super(message);
    this.name = 'CoreError';
    this.code = code;
    this.issues = issues;
  }
}

interface PendingCall {
  method: MethodName;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Subscription {
  event: EventName;
  params: unknown;
  fn: (data: unknown) => void;
}

export class CoreClient {
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly subs = new Map<number, Subscription>();
  private wasOpen = false;
  private lastStatus: TransportStatus = 'connecting';
  private readonly offs: Array<() => void>;

  constructor(readonly transport: Transport) {
    this.offs = [transport.onMessage((m) => this.receive(m)), transport.onStatus((s) => this.onStatus(s))];
  }

  get status(): TransportStatus {
    return this.lastStatus;
  }

  call<M extends MethodName>(
    method: M,
    params: MethodParams<M>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<MethodResult<M>> {
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(new CoreError('cancelled', `${method} was cancelled`));
    const id = this.nextId++;
    return new Promise<MethodResult<M>>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.transport.send({ t: 'cancel', id });
        reject(new CoreError('cancelled', `${method} was cancelled`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        method,
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v as MethodResult<M>);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      this.transport.send({ t: 'call', id, method, params });
    });
  }

  /** Subscribe to an event stream; the returned function disposes it. Survives reconnects. */
  listen<E extends EventName>(event: E, params: EventParams<E>, fn: (data: EventData<E>) => void): () => void {
    const id = this.nextId++;
    this.subs.set(id, { event, params, fn: fn as (d: unknown) => void });
    this.transport.send({ t: 'listen', id, event, params });
    return () => {
      if (this.subs.delete(id)) this.transport.send({ t: 'dispose', id });
    };
  }

  dispose(): void {
    for (const off of this.offs) off();
    this.failPending('client closed');
    this.subs.clear();
  }

  private onStatus(s: TransportStatus) {
    if (s === this.lastStatus) return;
    this.lastStatus = s;
    if (s === 'open') {
      // A new connection (or a restarted core) has no subscriptions: renew them.
      if (this.wasOpen) {
        for (const [id, sub] of this.subs) this.transport.send({ t: 'listen', id, event: sub.event, params: sub.params });
      }
      this.wasOpen = true;
    } else if (s === 'closed' || s === 'restarting') {
      this.failPending(s === 'restarting' ? 'the core is restarting' : 'connection to the core lost');
    }
  }

  private failPending(why: string) {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const p of calls) p.reject(new CoreError('disconnected', `${p.method}: ${why}`));
  }

  private receive(m: HostMessage) {
    if (m.t === 'event') {
      const sub = this.subs.get(m.id);
      if (!sub) return;
      const parsed = events[sub.event].data.safeParse(m.data);
      if (parsed.success) sub.fn(parsed.data);
      else console.warn(`dropped malformed ${sub.event} event`, parsed.error.issues[0]);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.t === 'error') {
      p.reject(new CoreError(m.error.code, m.error.message, m.error.issues ?? []));
      return;
    }
    const parsed = methods[p.method].result.safeParse(m.data);
    if (parsed.success) p.resolve(parsed.data);
    else {
      const i = parsed.error.issues[0];
      p.reject(new CoreError('bad_result', `${p.method} returned bad data at ${i?.path.join('.')}: ${i?.message}`));
    }
  }
}
