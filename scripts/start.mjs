// `npm start`: builds if needed, then opens the Electron app; where Electron cannot start (no binary and
// no way to fetch it, or no display), runs the same app headless and prints the URL to open in a browser.
//   npm start -- --headless [serve flags]   always headless (e.g. on a remote GPU box)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const args = process.argv.slice(2);
const headless = args.includes('--headless');
const serveArgs = args.filter((a) => a !== '--headless');

if (!existsSync('out/renderer/index.html') || !existsSync('out/cli/switchyard.mjs') || !existsSync('out/main/index.js')) {
  console.log('building Switchyard (first start)…');
  const b = spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

function electronBinary() {
  // require('electron') returns the binary's path and fetches it on first use.
  const r = spawnSync(process.execPath, ['-e', "process.stdout.write(require('electron'))"], {
    encoding: 'utf8',
    timeout: 300_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status === 0 && r.stdout && existsSync(r.stdout)) return { path: r.stdout };
  const lines = (r.stderr || r.error?.message || 'unknown error').trim().split('\n');
  return { error: (lines.find((l) => /error|ENOTFOUND|failed/i.test(l)) ?? lines[0]).trim() };
}

let why = 'asked for --headless';
if (!headless) {
  const hasDisplay = process.platform !== 'linux' || process.env.DISPLAY || process.env.WAYLAND_DISPLAY;
  const bin = electronBinary();
  if (bin.path && hasDisplay) {
    const child = spawn(bin.path, ['.'], { stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 0));
    process.on('SIGINT', () => child.kill('SIGINT'));
    await new Promise(() => {});
  }
  why = bin.path ? 'no display' : `the Electron binary is not available (${bin.error})`;
}
console.log(`Electron cannot start: ${why}. Starting the same app headless — open the URL below in a browser.`);
const child = spawn(process.execPath, ['bin/switchyard.mjs', 'serve', ...serveArgs], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 0));
process.on('SIGINT', () => child.kill('SIGINT'));
