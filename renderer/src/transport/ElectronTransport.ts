import type { ClientMessage, HostMessage } from '../../../core/protocol/protocol.js';
import type { SwitchyardHost, SwitchyardHostStatus } from './SwitchyardHost.js';
import { Emitter, type Transport, type TransportStatus } from './Transport.js';

/** Maps the preload's core-process status onto the transport's connection status. */
export function statusFromHost(s: SwitchyardHostStatus): TransportStatus {
  return s === 'ready' ? 'open' : s === 'restarting' ? 'restarting' : 'closed';
}

/** Transport over the Electron preload bridge; the core runs in a utility process behind it. */
export class ElectronTransport implements Transport {
  private readonly status = new Emitter<TransportStatus>();
  private readonly off: () => void;
  private current: TransportStatus = 'open';

  constructor(private readonly host: SwitchyardHost) {
    this.off = host.onStatus((s) => {
      this.current = statusFromHost(s);
      this.status.emit(this.current);
    });
  }

  send(msg: ClientMessage): void {
    this.host.send(msg);
  }

  onMessage(fn: (m: HostMessage) => void): () => void {
    return this.host.onMessage(fn);
  }

  onStatus(fn: (s: TransportStatus) => void): () => void {
    // The bridge is usable as soon as the page runs; tell late subscribers where things stand.
    queueMicrotask(() => fn(this.current));
    return this.status.on(fn);
  }

  close(): void {
    this.off();
  }
}
