/**
 * The names shared by the Electron main process and the preload. The preload exposes to the renderer
 * only the intent-named functions of `SwitchyardHostBridge` (never ipcRenderer itself).
 */
import type { ClientMessage, HostMessage } from '../core/protocol/protocol.js';

export const CHANNEL = {
  /** main → renderer: a MessagePort wired straight to the core's utility process. */
  port: 'switchyard:core-port',
  /** main → renderer: the core process state. */
  status: 'switchyard:core-status',
  openSpaceFile: 'switchyard:open-space-file',
  saveSpaceFile: 'switchyard:save-space-file',
} as const;

export type CoreStatus = 'ready' | 'restarting' | 'crashed';

export interface SwitchyardHostBridge {
  platform: 'electron';
  send(msg: ClientMessage): void;
  onMessage(fn: (msg: HostMessage) => void): () => void;
  onStatus(fn: (s: CoreStatus) => void): () => void;
  openSpaceFile(): Promise<{ path: string; text: string } | null>;
  saveSpaceFile(text: string, suggestedName: string): Promise<string | null>;
}
