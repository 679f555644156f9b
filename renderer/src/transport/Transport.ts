/**
 * The renderer's one way to reach the core: a Transport carries protocol wire messages, whatever the
 * host (Electron preload or a WebSocket to `switchyard serve`). The UI never learns which one it has
 * (Netron's swappable Host); CoreClient puts typed calls and subscriptions on top.
 */
import type { ClientMessage, HostMessage } from '../../../core/protocol/protocol.js';

export type TransportStatus = 'connecting' | 'open' | 'closed' | 'restarting';

export interface Transport {
  /**
   * Deliver now, or queue until the current connection attempt opens. A message not delivered when
   * the connection is lost is dropped before the status change that reports the loss.
   */
  send(msg: ClientMessage): void;
  onMessage(fn: (m: HostMessage) => void): () => void;
  onStatus(fn: (s: TransportStatus) => void): () => void;
  close(): void;
}

/** A tiny typed listener set, shared by the transports. */
export class Emitter<T> {
  private readonly fns = new Set<(v: T) => void>();
  on(fn: (v: T) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  emit(v: T): void {
    for (const fn of [...this.fns]) fn(v);
  }
}
