/**
 * The training child's link to its parent: Node's IPC channel when RunManager forked it, or Electron's
 * parent port when the main process started it as a utility process (the packaged app turns the
 * RunAsNode fuse off; see electron/trainChannel.ts). trainProcess is the same program either way.
 */
import type { ChildMessage, ParentMessage } from './trainProcessMessages.js';

/** The part of Electron's `process.parentPort` a utility process uses (no electron import in core/). */
interface ParentPort {
  postMessage(m: unknown): void;
  on(event: 'message', fn: (e: { data: unknown }) => void): unknown;
}

export interface ParentLink {
  /** Resolves once the message is handed to the channel (flushed, for Node's IPC). */
  send(m: ChildMessage): Promise<void>;
  onMessage(fn: (m: ParentMessage) => void): void;
  /** The parent went away. A utility child has no such event: main sends 'stop' when the core exits. */
  onGone(fn: () => void): void;
  close(): void;
}

type ParentProcess = Pick<NodeJS.Process, 'send' | 'connected' | 'disconnect' | 'on'> & { parentPort?: ParentPort };

export function parentLink(proc: ParentProcess = process as ParentProcess): ParentLink {
  const port = proc.parentPort;
  if (port) {
    return {
      send: async (m) => port.postMessage(m),
      onMessage: (fn) => void port.on('message', (e) => fn(e.data as ParentMessage)),
      onGone: () => {},
      close: () => {},
    };
  }
  return {
    send: (m) =>
      new Promise<void>((resolve) => {
        if (!proc.send || !proc.connected) return resolve();
        proc.send(m, undefined, undefined, () => resolve());
      }),
    onMessage: (fn) => void proc.on('message', fn as (m: unknown) => void),
    onGone: (fn) => void proc.on('disconnect', fn),
    close: () => {
      if (proc.connected) proc.disconnect();
    },
  };
}
