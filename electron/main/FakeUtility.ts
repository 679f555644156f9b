/** Test double of an Electron UtilityProcess for TrainSpawner's tests (no Electron needed). */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { TrainUtilityChild } from './TrainSpawner.js';

/** A fake Electron UtilityProcess: records what it is sent; the test spawns it, talks for it, ends it. */
export class FakeUtility extends EventEmitter implements TrainUtilityChild {
  static nextPid = 100;
  readonly pid = FakeUtility.nextPid++;
  readonly stderr = new PassThrough();
  readonly inbox: unknown[] = [];
  kills = 0;
  postMessage(m: unknown) {
    this.inbox.push(m);
  }
  kill() {
    this.kills++;
    return true;
  }
  spawned() {
    this.emit('spawn');
  }
  say(m: unknown) {
    this.emit('message', m);
  }
  exit(code: number) {
    this.emit('exit', code);
  }
}
