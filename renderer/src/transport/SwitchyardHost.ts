/**
 * What the Electron preload exposes on `window.switchyardHost` (contextBridge). Intent-named functions
 * only; every subscription returns an unsubscriber. The shape is fixed with the preload's author.
 */
import type { ClientMessage, HostMessage } from '../../../core/protocol/protocol.js';

export type SwitchyardHostStatus = 'ready' | 'restarting' | 'crashed';

export interface SwitchyardHost {
  platform: 'electron';
  send(msg: ClientMessage): void;
  onMessage(fn: (msg: HostMessage) => void): () => void;
  onStatus(fn: (s: SwitchyardHostStatus) => void): () => void;
  openSpaceFile(): Promise<{ path: string; text: string } | null>;
  saveSpaceFile(text: string, suggestedName: string): Promise<string | null>;
}

declare global {
  interface Window {
    switchyardHost?: SwitchyardHost;
  }
}
