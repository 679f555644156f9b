/**
 * What RunManager uses of a training child process. A `child_process.fork` ChildProcess is one (the
 * default, under plain Node). Electron's packaged app turns the RunAsNode fuse off, so its core cannot
 * fork Electron as Node; it supplies a TrainChild that asks the main process to start a utility
 * process instead (electron/core/UtilityTrainChild.ts).
 */
import type { Readable } from 'node:stream';
import type { ChildMessage, ParentMessage } from './trainProcessMessages.js';

export interface TrainChild {
  readonly connected: boolean;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  send(m: ParentMessage): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'message', fn: (m: ChildMessage) => void): unknown;
  on(event: 'error', fn: (e: Error) => void): unknown;
  once(event: 'exit', fn: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/** Starts one training child (trainProcess's entry); RunManager sends it 'start' right away. */
export type SpawnTrainChild = () => TrainChild;
