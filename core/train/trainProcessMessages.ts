/** Messages over the IPC channel between RunManager (parent) and trainProcess (child). */
import type { BackendChoice, RunEvent, RunSummary } from '../protocol/protocol.js';

export type ParentMessage =
  | { type: 'start'; runId: string; runsDir: string; resume: boolean; backend?: BackendChoice }
  /** Finish the current step, checkpoint, and exit with status 'stopped'. */
  | { type: 'stop' };

export type ChildMessage =
  | { type: 'event'; event: RunEvent }
  /** Sent last, before the child exits on its own. */
  | { type: 'done'; summary: RunSummary };
