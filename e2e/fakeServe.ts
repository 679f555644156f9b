/**
 * `npx tsx e2e/fakeServe.ts [port]`: the built renderer against the fake core (UI development only).
 * Prints the same "Switchyard serving <url>" line as `switchyard serve`.
 */
import { serve } from '../core/host/serve.js';
import { createFakeCore } from './fakeCore.js';

const port = Number(process.argv[2] ?? 0);
const s = await serve({ port, core: createFakeCore() });
console.log(`Switchyard serving ${s.url}`);
process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
