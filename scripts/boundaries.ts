/**
 * The runtime boundaries (VS Code style: common / browser / node / electron-main), checked on the
 * import graph: core/ is pure Node-side TypeScript; the renderer never reaches electron or Node.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Violation {
  file: string;
  line: number;
  text: string;
  rule: string;
}

interface Rule {
  name: string;
  root: string;
  /** Import specifiers that are forbidden under root. */
  forbidden: RegExp;
  /** Source text (outside imports) that is forbidden, e.g. DOM globals. */
  forbiddenText?: RegExp;
}

export const RULES: Rule[] = [
  {
    name: 'core/ must not import electron, react, the renderer or DOM-only code',
    root: 'core',
    forbidden: /^(electron|react|react-dom|zustand|d3(-.*)?)$|(^|\/)(renderer|electron)\//,
    forbiddenText: /\b(window|document|localStorage|HTMLElement)\s*[.[]/,
  },
  {
    name: 'renderer/ must not import electron or Node modules, nor core internals beyond protocol/space',
    root: 'renderer/src',
    forbidden: /^(electron|fs|path|child_process|os|worker_threads|ws|@tensorflow\/.*)$|^node:|\/core\/(?!protocol\/|space\/)|\/electron\//,
  },
];

export const IMPORT_RE = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/;

/** Source files under dir (not tests, not node_modules or dot folders). */
export function* walk(dir: string): Generator<string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n === 'node_modules' || n.startsWith('.')) continue;
    const p = join(dir, n);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (/\.(ts|tsx|mts)$/.test(n) && !/\.test\.tsx?$/.test(n)) yield p;
  }
}

export function checkBoundaries(repoRoot: string): Violation[] {
  const out: Violation[] = [];
  for (const rule of RULES) {
    for (const file of walk(join(repoRoot, rule.root))) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((text, i) => {
        const trimmed = text.trim();
        if (trimmed.startsWith('//') || trimmed.startsWith('*') || trimmed.startsWith('/*')) return;
        const m = IMPORT_RE.exec(text);
        const spec = m?.[1] ?? m?.[2] ?? m?.[3];
        const bad = (spec && rule.forbidden.test(spec)) || (!m && rule.forbiddenText?.test(text.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, '')));
        if (bad) out.push({ file: relative(repoRoot, file), line: i + 1, text: trimmed, rule: rule.name });
      });
    }
  }
  return out;
}
