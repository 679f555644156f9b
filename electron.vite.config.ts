/**
 * One build for the three runtimes (electron-vite): main (Node, Electron main process + the core's
 * utility process), preload (sandboxed, so CommonJS), renderer (browser; also served by `switchyard serve`).
 */
import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';

export default defineConfig({
  main: {
    build: {
      externalizeDeps: true,
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'electron/main/index.ts'),
          core: resolve(__dirname, 'electron/core/index.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      externalizeDeps: true,
      rollupOptions: {
        input: { index: resolve(__dirname, 'electron/preload/index.ts') },
        // Sandboxed preloads cannot be ES modules.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'renderer'),
    base: './',
    // React's JSX through Vite's built-in oxc transform (no plugin needed).
    oxc: { jsx: { runtime: 'automatic' } },
    build: {
      outDir: resolve(__dirname, 'out/renderer'),
      rollupOptions: { input: resolve(__dirname, 'renderer/index.html') },
    },
    server: { proxy: { '/ws': { target: 'ws://127.0.0.1:7860', ws: true } } },
  },
});
