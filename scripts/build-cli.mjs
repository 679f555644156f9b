// Bundles the Node-side entries of the core (CLI, training child process, benchmark) with esbuild.
// Dependencies stay external: they are resolved from node_modules at run time.
import { existsSync } from 'node:fs';
import { build } from 'esbuild';

const entries = {
  switchyard: 'core/host/cliMain.ts',
  trainProcess: 'core/train/trainProcess.ts',
};
const entryPoints = Object.fromEntries(Object.entries(entries).filter(([, p]) => existsSync(p)));
await build({
  entryPoints,
  outdir: 'out/cli',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  // Some bundled code still calls require(); give ESM output a real one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
console.log(`built ${Object.keys(entryPoints).join(', ')} → out/cli/`);
