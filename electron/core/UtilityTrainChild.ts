/**
 * The core's side of training children started by the main process (see electron/trainChannel.ts):
 * each one looks to RunManager like a forked child (the TrainChild contract), while its messages travel
 * over the core's parent port. Electron-free: the port is injected, so the policy is tested under Node.
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { TrainChild } from '../../core/train/TrainChild.js';
import type { ParentMessage } from '../../core/train/trainProcessMessages.js';
import { isTrainReport, type TrainReport, type TrainRequest } from '../trainChannel.js';

export class UtilityTrainChild extends EventEmitter implements TrainChild {
  connected = true;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();

  constructor(
    readonly id: number,
    private readonly post: (m: TrainRequest) => void,
  ) {
    super();
  }

  send(message: ParentMessage): boolean {
    if (!this.connected) return false;
    this.post({ type: 'train:send', id: this.id, message });
    return true;
  }

  kill(signal?: NodeJS.Signals): boolean {
    if (!this.connected) return false;
    this.post({ type: 'train:kill', id: this.id, signal: signal === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM' });
    return true;
  }

  /** A report from main about this child. */
  report(r: TrainReport): void {
    if (r.type === 'train:message') this.emit('message', r.message);
    else if (r.type === 'train:stderr') this.stderr.write(r.text);
    else {
      this.connected = false;
      this.stdout.end();
      this.stderr.end();
      this.emit('exit', r.code, r.signal);
    }
  }
}

/** Hands out UtilityTrainChild objects and routes main's reports to them. */
export class TrainChildBroker {
  private nextId = 1;
  private readonly children = new Map<number, UtilityTrainChild>();

  constructor(private readonly post: (m: TrainRequest) => void) {}

  /** A SpawnTrainChild for RunManager. */
  spawn = (): UtilityTrainChild => {
    const child = new UtilityTrainChild(this.nextId++, this.post);
    this.children.set(child.id, child);
    this.post({ type: 'train:spawn', id: child.id });
    return child;
  };

  /** Feed one message from the parent port; false if it is not a training report. */
  receive(m: unknown): boolean {
    if (!isTrainReport(m)) return false;
    const child = this.children.get(m.id);
    if (!child) return true;
    if (m.type === 'train:exit') this.children.delete(m.id);
    child.report(m);
    return true;
  }

  get liveCount(): number {
    return this.children.size;
  }
}
