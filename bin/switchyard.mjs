#!/usr/bin/env node
// Runs the bundled CLI (npm run build); in a source checkout without a build, runs the TypeScript through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const bundled = fileURLToPath(new URL('../out/cli/switchyard.mjs', import.meta.url));
if (existsSync(bundled)) {
  await import(pathToFileURL(bundled).href);
} else {
  const { register } = await import('tsx/esm/api').catch(() => {
    console.error('switchyard: not built. Run `npm run build` first.');
    process.exit(1);
  });
  register();
  await import(new URL('../core/host/cliMain.ts', import.meta.url).href);
}
