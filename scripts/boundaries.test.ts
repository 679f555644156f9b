import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkBoundaries } from './boundaries.js';

describe('runtime boundaries', () => {
  it('hold in this repository', () => {
    const violations = checkBoundaries(join(import.meta.dirname, '..'));
    expect(violations.map((v) => `${v.file}:${v.line} ${v.text} (${v.rule})`)).toEqual([]);
  });

  it('catch core importing electron and the DOM, and the renderer importing node', () => {
    const root = mkdtempSync(join(tmpdir(), 'sw-bound-'));
    mkdirSync(join(root, 'core/x'), { recursive: true });
    mkdirSync(join(root, 'renderer/src'), { recursive: true });
    writeFileSync(join(root, 'core/x/a.ts'), "import { app } from 'electron';\nconst w = window.innerWidth;\n");
    writeFileSync(join(root, 'renderer/src/b.ts'), "import { readFileSync } from 'node:fs';\nimport type { X } from '../../core/protocol/protocol.js';\nimport { y } from '../../core/train/Trainer.js';\n");
    const v = checkBoundaries(root);
    expect(v.map((x) => `${x.file}:${x.line}`)).toEqual(['core/x/a.ts:1', 'core/x/a.ts:2', 'renderer/src/b.ts:1', 'renderer/src/b.ts:3']);
  });
});
