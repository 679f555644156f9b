import { selectBackend } from './core/nn/backend.js';
await selectBackend('wasm');
await import('./probe.tmp.ts');
