/**
 * `npx tsx e2e/fakeServe.ts [port]`: the built renderer against the fake core (UI development only).
 * Prints the same "Switchyard serving <url>" line as `switchyard serve`.
 */
import { serve } from '../core/host/serve.js';
import { createFakeCore } from './fakeCore.js';

const port = Number(process.argv[2] ?? 0);
// SWITCHYARD_FAKE_STEPS_PER_TICK: a faster fake trainer for e2e scenarios that need long runs.
const stepsPerTick = Number(process.env.SWITCHYARD_FAKE_STEPS_PER_TICK ?? 2);
const s = await serve({ port, core: createFakeCore({ stepsPerTick }) });
console.log(`Switchyard serving ${s.url}`);
process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
