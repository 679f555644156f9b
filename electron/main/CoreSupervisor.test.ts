import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { CoreStatus } from '../bridge.js';
import { CoreSupervisor } from './CoreSupervisor.js';

class FakeChild extends EventEmitter {
  killed = false;
  kill() {
    this.killed = true;
    return true;
  }
  ready() {
    this.emit('message', { type: 'ready' });
  }
  die(code = 1) {
    this.emit('exit', code);
  }
}

function setup(wanted = () => true) {
  const children: FakeChild[] = [];
  const statuses: CoreStatus[] = [];
  const readies: FakeChild[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const sup = new CoreSupervisor<FakeChild>({
    fork: () => {
      const c = new FakeChild();
      children.push(c);
      return c;
    },
    onReady: (c) => readies.push(c),
    onStatus: (s) => statuses.push(s),
    wanted,
    delaysMs: [10, 20, 40],
    setTimer: (fn, ms) => timers.push({ fn, ms }),
  });
  const fire = () => timers.shift()!.fn();
  return { sup, children, statuses, readies, timers, fire };
}

describe('CoreSupervisor', () => {
  it('wires the window once the core says ready', () => {
    const t = setup();
    t.sup.start();
    t.children[0]!.ready();
    expect(t.readies).toEqual([t.children[0]]);
    expect(t.sup.current).toBe(t.children[0]);
  });

  it('reports a crash, restarts with growing delays, and resets them once ready', () => {
    const t = setup();
    t.sup.start();
    t.children[0]!.ready();
    t.children[0]!.die(1);
    expect(t.statuses).toEqual(['crashed']);
    expect(t.sup.current).toBeNull();
    expect(t.timers.map((x) => x.ms)).toEqual([10]);
    t.fire();
    expect(t.statuses).toEqual(['crashed', 'restarting']);
    expect(t.children).toHaveLength(2);
    t.children[1]!.die(1); // dies before ready: back off further
    expect(t.timers.map((x) => x.ms)).toEqual([20]);
    t.fire();
    t.children[2]!.ready();
    expect(t.readies).toEqual([t.children[0], t.children[2]]);
    t.children[2]!.die(1);
    expect(t.timers.map((x) => x.ms)).toEqual([10]);
  });

  it('does not restart after stop or when no window wants it', () => {
    const t = setup();
    t.sup.start();
    t.sup.stop();
    expect(t.children[0]!.killed).toBe(true);
    t.children[0]!.die(0);
    expect(t.timers).toHaveLength(0);

    let wanted = true;
    const u = setup(() => wanted);
    u.sup.start();
    wanted = false;
    u.children[0]!.die(1);
    expect(u.timers).toHaveLength(0);
    expect(u.statuses).toEqual([]);
  });

  it('ignores messages and exits from a replaced process', () => {
    const t = setup();
    t.sup.start();
    const old = t.children[0]!;
    old.die(1);
    t.fire();
    old.ready();
    old.die(1);
    expect(t.readies).toEqual([]);
    expect(t.timers).toHaveLength(0);
  });
});
