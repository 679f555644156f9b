import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLayers } from './layers.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'sw-layers-'));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), text);
  }
  return root;
}

describe("core/'s floors", () => {
  it('hold in this repository: no upward import, no cycle', () => {
    expect(checkLayers(join(import.meta.dirname, '..')).map((v) => `${v.file}:${v.line} ${v.rule}`)).toEqual([]);
  });

  it('catch an upward import, also a type-only one', () => {
    const root = tree({
      'core/train/Trainer.ts': "import type { EventHub } from '../host/session.js';\n",
      'core/host/session.ts': 'export class EventHub {}\n',
      'core/space/SearchSpace.ts': "import { issuesOf } from '../protocol/protocol.js';\n",
      'core/protocol/protocol.ts': 'export const issuesOf = 1;\n',
    });
    expect(checkLayers(root).map((v) => `${v.file}:${v.line} ${v.rule}`).sort()).toEqual([
      'core/space/SearchSpace.ts:1 upward import: space (floor 0) imports protocol (floor 1)',
      'core/train/Trainer.ts:1 upward import: train (floor 3) imports host (floor 6)',
    ]);
  });

  it('catch a cycle inside one floor and through dynamic imports, and an unplaced folder', () => {
    const root = tree({
      'core/data/Dataset.ts': "import { loadFashionMnist } from './fashionMnist.js';\n",
      'core/data/fashionMnist.ts': "import { DatasetError } from './Dataset.js';\n",
      'core/host/cli.ts': "const m = await import('./serve.js');\n",
      'core/host/serve.ts': "export { x } from './cli.js';\n",
      'core/misc/a.ts': 'export const a = 1;\n',
    });
    const rules = checkLayers(root).map((v) => v.rule);
    expect(rules).toContain('import cycle: core/data/Dataset.ts ↔ core/data/fashionMnist.ts');
    expect(rules).toContain('import cycle: core/host/cli.ts ↔ core/host/serve.ts');
    expect(rules).toContain('core/misc/ has no floor in scripts/layers.ts FLOORS');
  });
});
