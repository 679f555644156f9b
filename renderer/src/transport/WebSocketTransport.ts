import type { ClientMessage, HostMessage } from '../../../core/protocol/protocol.js';
import { Emitter, type Transport, type TransportStatus } from './Transport.js';

/** The `/ws` URL of the page's own host, carrying the page's `?token=` if it has one. */
export function webSocketUrl(loc: { protocol: string; host: string; search: string }): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  const token = new URLSearchParams(loc.search).get('token');
  return `${scheme}://${loc.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

/** Reconnect delay after `attempt` failures: 250 ms doubling, capped at 5 s. */
export function backoffMs(attempt: number): number {
  return Math.min(5000, 250 * 2 ** Math.max(0, attempt));
}

/**
 * Transport over a WebSocket to `switchyard serve`. Messages sent while connecting are queued; a lost
 * connection is retried with backoff (CoreClient re-subscribes once it is open again).
 *
 * The queue lives for one connection attempt only: when the connection is lost or a new attempt
 * starts, whatever is still queued is dropped *before* the status change that makes CoreClient fail
 * its pending calls. A call already reported failed must never reach the core later (a train.start
 * the user was told had failed would otherwise start a run after the reconnect).
 */
export class WebSocketTransport implements Transport {
  private ws: WebSocket | null = null;
  private queue: string[] = [];
  private attempt = 0;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private current: TransportStatus = 'connecting';
  private readonly messages = new Emitter<HostMessage>();
  private readonly status = new Emitter<TransportStatus>();

  constructor(private readonly url: string) {
    this.connect();
  }

  private setStatus(s: TransportStatus) {
    this.current = s;
    this.status.emit(s);
  }

  private connect() {
    if (this.closed) return;
    this.queue = [];
    this.setStatus(this.attempt === 0 ? 'connecting' : 'restarting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      const queued = this.queue;
      this.queue = [];
      for (const m of queued) ws.send(m);
      this.setStatus('open');
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg: HostMessage;
      try {
        msg = JSON.parse(ev.data) as HostMessage;
      } catch {
        return;
      }
      this.messages.emit(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.queue = [];
      if (this.closed) return;
      this.setStatus('closed');
      this.timer = setTimeout(() => this.connect(), backoffMs(this.attempt++));
    };
  }

  send(msg: ClientMessage): void {
    const text = JSON.stringify(msg);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    else this.queue.push(text);
  }

  onMessage(fn: (m: HostMessage) => void): () => void {
    return this.messages.on(fn);
  }

  onStatus(fn: (s: TransportStatus) => void): () => void {
    const now = this.current;
    queueMicrotask(() => fn(now));
    return this.status.on(fn);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
    this.queue = [];
    this.setStatus('closed');
  }
}
