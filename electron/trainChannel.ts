/**
 * Messages between the core's utility process and the main process about training children.
 *
 * The packaged app sets Electron's RunAsNode fuse off (electron-builder.yml), so the core can no longer
 * fork the Electron binary as Node with ELECTRON_RUN_AS_NODE. A utility process cannot start utility
 * processes either, so the core asks main: main forks trainProcess as a utility process of its own
 * (electron/main/TrainSpawner.ts) and relays its messages, stderr and exit; the core sees an ordinary
 * TrainChild (electron/core/UtilityTrainChild.ts). Main only ever forks its own training entry, never
 * a path the core names.
 */
import type { ChildMessage, ParentMessage } from '../core/train/trainProcessMessages.js';

/** core → main */
export type TrainRequest =
  | { type: 'train:spawn'; id: number }
  | { type: 'train:send'; id: number; message: ParentMessage }
  | { type: 'train:kill'; id: number; signal: 'SIGTERM' | 'SIGKILL' };

/** main → core */
export type TrainReport =
  | { type: 'train:message'; id: number; message: ChildMessage }
  | { type: 'train:stderr'; id: number; text: string }
  | { type: 'train:exit'; id: number; code: number | null; signal: 'SIGTERM' | 'SIGKILL' | null };

const REQUESTS = new Set(['train:spawn', 'train:send', 'train:kill']);
const REPORTS = new Set(['train:message', 'train:stderr', 'train:exit']);

function tagged(m: unknown, types: Set<string>): boolean {
  const v = m as { type?: unknown; id?: unknown } | null;
  return typeof v?.type === 'string' && types.has(v.type) && Number.isSafeInteger(v.id);
}

export const isTrainRequest = (m: unknown): m is TrainRequest => tagged(m, REQUESTS);
export const isTrainReport = (m: unknown): m is TrainReport => tagged(m, REPORTS);
