import { ElectronTransport } from './ElectronTransport.js';
import type { Transport } from './Transport.js';
import { WebSocketTransport, webSocketUrl } from './WebSocketTransport.js';

/** Electron when the preload put its bridge on window, else the WebSocket of `switchyard serve`. */
export function createTransport(): Transport {
  const host = window.switchyardHost;
  if (host && host.platform === 'electron') return new ElectronTransport(host);
  return new WebSocketTransport(webSocketUrl(window.location));
}
