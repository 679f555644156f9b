// Standalone build of the renderer (`npx vite build renderer`); electron.vite.config.ts builds the same
// root for the desktop app. React's JSX goes through Vite's built-in oxc transform (no plugin needed).
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  oxc: { jsx: { runtime: 'automatic' } },
  build: { outDir: '../out/renderer', emptyOutDir: true, target: 'es2022' },
  server: { proxy: { '/ws': { target: 'ws://127.0.0.1:' + (process.env.SWITCHYARD_PORT ?? '7860'), ws: true } } },
});
