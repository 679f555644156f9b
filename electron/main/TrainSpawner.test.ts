import { describe, expect, it } from 'vitest';
import type { TrainReport } from '../trainChannel.js';
import { FakeUtility } from './FakeUtility.js';
import { TrainSpawner } from './TrainSpawner.js';

function setup() {
  const children: FakeUtility[] = [];
  const reports: TrainReport[] = [];
  const hardKills: number[] = [];
  const spawner = new TrainSpawner<FakeUtility>({
    fork: () => {
      const c = new FakeUtility();
      children.push(c);
      return c;
    },
    toCore: (r) => reports.push(r),
    killPid: (pid) => hardKills.push(pid),
  });
  return { spawner, children, reports, hardKills };
}

const start = { type: 'start', runId: 'r1', runsDir: '/runs', resume: false } as const;

describe('TrainSpawner', () => {
  it('forks on request, queues messages until the child has spawned, and relays both ways', () => {
    const t = setup();
    expect(t.spawner.receive({ type: 'train:spawn', id: 1 })).toBe(true);
    t.spawner.receive({ type: 'train:send', id: 1, message: start });
    const c = t.children[0]!;
    expect(c.inbox).toEqual([]);
    c.spawned();
    expect(c.inbox).toEqual([start]);
    t.spawner.receive({ type: 'train:send', id: 1, message: { type: 'stop' } });
    expect(c.inbox.at(-1)).toEqual({ type: 'stop' });

    c.say({ type: 'event', event: { kind: 'log', runId: 'r1', level: 'info', message: 'hi' } });
    c.stderr.write('warning: slow\n');
    c.exit(0);
    expect(t.reports).toEqual([
      { type: 'train:message', id: 1, message: { type: 'event', event: { kind: 'log', runId: 'r1', level: 'info', message: 'hi' } } },
      { type: 'train:stderr', id: 1, text: 'warning: slow\n' },
      { type: 'train:exit', id: 1, code: 0, signal: null },
    ]);
    expect(t.spawner.runningCount).toBe(0);
  });

  it('ignores other messages and never forks for a message that is not a spawn request', () => {
    const t = setup();
    expect(t.spawner.receive({ type: 'ready' })).toBe(false);
    expect(t.spawner.receive({ type: 'train:spawn', id: 'x' })).toBe(false);
    expect(t.spawner.receive({ type: 'train:send', id: 7, message: start })).toBe(true);
    expect(t.children).toHaveLength(0);
  });

  it('kills hard by pid on SIGKILL (UtilityProcess.kill is only SIGTERM) and reports the signal', () => {
    const t = setup();
    t.spawner.receive({ type: 'train:spawn', id: 1 });
    const c = t.children[0]!;
    c.spawned();
    t.spawner.receive({ type: 'train:kill', id: 1, signal: 'SIGKILL' });
    expect(t.hardKills).toEqual([c.pid]);
    expect(c.kills).toBe(0);
    c.exit(137);
    expect(t.reports.at(-1)).toEqual({ type: 'train:exit', id: 1, code: null, signal: 'SIGKILL' });
  });

  it('stops the children of a core that went away and keeps their messages from the next core', async () => {
    const t = setup();
    t.spawner.receive({ type: 'train:spawn', id: 1 });
    t.spawner.receive({ type: 'train:send', id: 1, message: start });
    t.spawner.receive({ type: 'train:spawn', id: 2 });
    const [running, unspawned] = t.children as [FakeUtility, FakeUtility];
    running.spawned();
    t.spawner.coreGone();
    expect(running.inbox.at(-1)).toEqual({ type: 'stop' });
    unspawned.spawned();
    expect(unspawned.kills).toBe(1);
    expect(unspawned.inbox).toEqual([]);

    // The restarted core numbers its children from 1 again: the orphan's words must not reach it.
    t.spawner.receive({ type: 'train:spawn', id: 1 });
    const fresh = t.children[2]!;
    running.say({ type: 'done', summary: {} });
    running.exit(0);
    unspawned.exit(0);
    expect(t.reports).toEqual([]);
    const idle = t.spawner.whenIdle();
    fresh.spawned();
    fresh.exit(0);
    await idle;
    expect(t.reports).toEqual([{ type: 'train:exit', id: 1, code: 0, signal: null }]);
  });

  it('reports a fork that throws as a failed child', () => {
    const reports: TrainReport[] = [];
    const s = new TrainSpawner<FakeUtility>({
      fork: () => {
        throw new Error('no entry');
      },
      toCore: (r) => reports.push(r),
    });
    s.receive({ type: 'train:spawn', id: 3 });
    expect(reports).toEqual([
      { type: 'train:stderr', id: 3, text: 'cannot start the training process: no entry\n' },
      { type: 'train:exit', id: 3, code: 1, signal: null },
    ]);
  });
});
