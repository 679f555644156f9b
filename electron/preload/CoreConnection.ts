/**
 * The preload's hold on the core: the current MessagePort, and what the page sent before one arrived.
 * Like the WebSocket transport, the queue lives for one connection only: when the core goes down,
 * whatever is still queued is dropped before the page hears the status that fails its pending calls,
 * so a call the page was told had failed is never delivered to the restarted core.
 */
import type { CoreStatus } from '../bridge.js';
import type { ClientMessage, HostMessage } from '../../core/protocol/protocol.js';

/** The part of a DOM MessagePort the preload uses. */
export interface CorePort {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
  start(): void;
  close(): void;
}

export class CoreConnection {
  private port: CorePort | null = null;
  private queue: ClientMessage[] = [];
  private last: CoreStatus | null = null;
  readonly messageListeners = new Set<(m: HostMessage) => void>();
  readonly statusListeners = new Set<(s: CoreStatus) => void>();

  /** main handed over a fresh port (first load, reload, or a restarted core). */
  attach(next: CorePort): void {
    this.port?.close();
    this.port = next;
    next.onmessage = (e: MessageEvent) => {
      for (const fn of this.messageListeners) fn(e.data as HostMessage);
    };
    next.start();
    for (const m of this.queue.splice(0)) next.postMessage(m);
  }

  status(s: CoreStatus): void {
    // Only a change of status fails the page's pending calls (CoreClient ignores a repeat), so only a
    // change drops the queue: a call queued between two 'restarting' reports is still pending.
    if (s !== 'ready' && s !== this.last) this.queue = [];
    if (s !== 'ready') {
      this.port?.close();
      this.port = null;
    }
    this.last = s;
    for (const fn of this.statusListeners) fn(s);
  }

  send(msg: ClientMessage): void {
    if (this.port) this.port.postMessage(msg);
    else this.queue.push(msg);
  }
}
