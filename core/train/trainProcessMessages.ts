/** Messages over the IPC channel between RunManager (parent) and trainProcess (child). */
import type { BackendChoice, RunEvent, RunSummary } from '../protocol/protocol.js';

export type ParentMessage =
  | { type: 'start'; runId: string; runsDir: string; resume: boolean; backend?: BackendChoice }
  /** Finish the current step, checkpoint, and exit with status 'stopped'. */
  | { type: 'stop' };

export type ChildMessage =
  | { type: 'event'; event: RunEvent }
  /** Sent last, before the child exits on its own (run.json already holds the final status). */
  | { type: 'done'; summary: RunSummary }
  /** Another process holds the run's lock: the child touched nothing and exits. */
  | { type: 'busy'; message: string };
