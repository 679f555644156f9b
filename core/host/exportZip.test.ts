import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Core } from './createCore.js';
import { exportZipPath, parseExportZipPath } from '../protocol/exportZipPath.js';
import { ExportNotFound, exportZip } from './exportZip.js';
import { serve, type RunningServer } from './serve.js';
import { EventHub, type Handlers } from './session.js';

const RUN = '20260101-120000-abcdef';
let runsDir: string;

beforeAll(() => {
  runsDir = mkdtempSync(join(tmpdir(), 'sw-zip-'));
  const exp = join(runsDir, RUN, 'exports', 'best');
  mkdirSync(join(exp, 'tfjs'), { recursive: true });
  writeFileSync(join(exp, 'arch.json'), '{"stages":[]}');
  writeFileSync(join(exp, 'tfjs', 'model.json'), '{"format":"layers-model"}');
  writeFileSync(join(exp, 'tfjs', 'weights.bin'), Buffer.from([1, 2, 3, 4]));
  // a link out of the folder must not be packed
  writeFileSync(join(runsDir, 'secret.txt'), 'secret');
  symlinkSync(join(runsDir, 'secret.txt'), join(exp, 'leak.txt'));
  // an export folder that is itself a link elsewhere is refused
  mkdirSync(join(runsDir, 'elsewhere'));
  symlinkSync(join(runsDir, 'elsewhere'), join(runsDir, RUN, 'exports', 'linked'));
});

describe('exportZip', () => {
  it('packs every regular file of the export under its name, and nothing a link points to', async () => {
    const files = unzipSync(await exportZip(runsDir, RUN, 'best'));
    expect(Object.keys(files).filter((k) => !k.endsWith('/')).sort()).toEqual(['best/arch.json', 'best/tfjs/model.json', 'best/tfjs/weights.bin']);
    expect(strFromU8(files['best/tfjs/model.json']!)).toBe('{"format":"layers-model"}');
    expect([...files['best/tfjs/weights.bin']!]).toEqual([1, 2, 3, 4]);
  });

  it('refuses names that are not plain, missing exports and linked folders', async () => {
    await expect(exportZip(runsDir, RUN, '..')).rejects.toBeInstanceOf(ExportNotFound);
    await expect(exportZip(runsDir, '..', 'best')).rejects.toBeInstanceOf(ExportNotFound);
    await expect(exportZip(runsDir, RUN, 'nope')).rejects.toBeInstanceOf(ExportNotFound);
    await expect(exportZip(runsDir, RUN, 'linked')).rejects.toBeInstanceOf(ExportNotFound);
    await expect(exportZip(runsDir, RUN, 'best', 3)).rejects.toThrow(/larger/);
  });

  it('parses only /api/exports/<run>/<name>.zip', () => {
    expect(parseExportZipPath(exportZipPath(RUN, 'best'))).toEqual({ runId: RUN, name: 'best' });
    expect(parseExportZipPath('/api/exports/a/../b.zip')).toBeNull();
    expect(parseExportZipPath('/api/exports/a/b/c.zip')).toBeNull();
    expect(parseExportZipPath('/api/exports/a/b')).toBeNull();
  });
});

describe('serve: export zip download', () => {
  let s: RunningServer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-zip-r-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    const core: Core = { handlers: {} as Handlers, hub: new EventHub(), runsDir, close: async () => {} };
    s = await serve({ port: 0, rendererDir: dir, token: 'tok', core });
  });
  afterAll(async () => s?.close());
  const url = (q = '') => new URL(`/api/exports/${RUN}/best.zip${q}`, s.url);

  it('is token-guarded like /ws: ?token= or the header', async () => {
    expect((await fetch(url())).status).toBe(403);
    expect((await fetch(url('?token=wrong'))).status).toBe(403);
    const r = await fetch(url('?token=tok'));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/zip');
    expect(r.headers.get('content-disposition')).toContain(`${RUN}-best.zip`);
    expect(Object.keys(unzipSync(new Uint8Array(await r.arrayBuffer())))).toContain('best/arch.json');
    expect((await fetch(url(), { headers: { 'x-switchyard-token': 'tok' } })).status).toBe(200);
  });

  it('answers 404 for exports that are not there or not plain names', async () => {
    expect((await fetch(new URL(`/api/exports/${RUN}/nope.zip?token=tok`, s.url))).status).toBe(404);
    expect((await fetch(new URL(`/api/exports/${RUN}/%2e%2e.zip?token=tok`, s.url))).status).toBe(404);
    expect((await fetch(new URL(`/api/exports/${RUN}/linked.zip?token=tok`, s.url))).status).toBe(404);
  });
});
