// `npm test`: every test the project has — type check, unit tests (vitest, core on the cpu backend),
// the build, then end-to-end tests in Chromium against `switchyard serve` (and in Electron where its
// binary exists). Ends with one line: `N passed, N failed, N skipped`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';

const only = process.argv.slice(2); // e.g. `npm test -- unit`
const want = (name) => only.length === 0 || only.includes(name);
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
mkdirSync('test-results', { recursive: true });

function run(cmd, args, env = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

function step(name, cmd, args) {
  const code = run(cmd, args);
  if (code === 0) totals.passed++;
  else {
    totals.failed++;
    failures.push(name);
  }
  return code === 0;
}

function vitest(name, config) {
  const out = `test-results/${name}.json`;
  const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`];
  if (config) args.push('--config', config);
  const code = run('npx', args, { FORCE_COLOR: '0' });
  if (!existsSync(out)) {
    totals.failed++;
    failures.push(`${name} (runner crashed, exit ${code})`);
    return;
  }
  const r = JSON.parse(readFileSync(out, 'utf8'));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  for (const f of r.testResults ?? []) {
    for (const a of f.assertionResults ?? []) if (a.status === 'failed') failures.push(`${name}: ${a.fullName}`);
    if (f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')) {
      totals.failed++;
      failures.push(`${name}: ${f.name} (${(f.message ?? '').split('\n')[0]})`);
    }
  }
}

if (want('typecheck')) step('typecheck', 'npm', ['run', 'typecheck']);
if (want('lint')) step('lint (runtime boundaries, core floors and cycles)', 'npm', ['run', 'lint']);
if (want('unit')) vitest('unit');
if (want('e2e')) {
  const built = step('build (electron-vite + CLI bundle)', 'npm', ['run', 'build']);
  if (built) vitest('e2e', 'vitest.e2e.config.ts');
  else {
    totals.skipped++;
    failures.push('e2e not run: build failed');
  }
}

console.log('');
if (failures.length) console.log(`failures:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed ? 1 : 0);
