import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventHub } from '../protocol/EventHub.js';
import { TrainConfig, type RunEvent } from '../protocol/protocol.js';
import { RunManager } from './RunManager.js';
import { newRunRecord, RunStore } from './RunStore.js';

const config = TrainConfig.parse({
  space: { name: 'tiny', input: { kind: 'vector', dim: 2 }, numClasses: 3, stages: [{ id: 's0', depth: [1], block: { type: 'dense', width: [4] } }] },
  data: { kind: 'gaussians', classes: 3, samples: 300, seed: 1 },
  steps: 10,
});

async function setup() {
  const runsDir = mkdtempSync(join(tmpdir(), 'sw-labels-'));
  const hub = new EventHub();
  const events: RunEvent[] = [];
  hub.subscribe('onRunEvent', {}, (e) => events.push(e));
  const manager = new RunManager({ runsDir, hub });
  const store = new RunStore(runsDir);
  const rec = newRunRecord('20260101-000000-aaaaaa', config);
  rec.summary.status = 'completed';
  await store.createRun(rec);
  return { manager, store, events, id: rec.summary.id, rec };
}

describe('RunManager labels and delete', () => {
  it('renames and tags a run, and a training process rewriting run.json does not undo it', async () => {
    const { manager, store, events, id, rec } = await setup();
    const s = await manager.update(id, { name: 'wide experts', tags: ['baseline', 'moe'] });
    expect(s).toMatchObject({ name: 'wide experts', tags: ['baseline', 'moe'] });
    expect(events.at(-1)).toMatchObject({ kind: 'status', summary: { name: 'wide experts' } });
    // the trainer writes its in-memory record (old name) back
    await store.writeRecord(rec);
    expect((await manager.list())[0]).toMatchObject({ name: 'wide experts', tags: ['baseline', 'moe'] });
    await manager.update(id, { tags: [] });
    expect((await manager.list())[0]).toMatchObject({ name: 'wide experts', tags: [] });
    await manager.close();
  });

  it('deletes a finished run, refuses one another process trains, and names a missing one', async () => {
    const { manager, store, events, id } = await setup();
    const lock = await store.acquireOwner(id);
    await expect(manager.delete(id)).rejects.toMatchObject({ code: 'busy' });
    await lock.release();
    expect(await manager.delete(id)).toEqual({ deleted: true });
    expect(events.at(-1)).toEqual({ kind: 'removed', runId: id });
    expect(await manager.list()).toEqual([]);
    await expect(manager.delete(id)).rejects.toMatchObject({ code: 'not_found' });
    await manager.close();
  });
});
