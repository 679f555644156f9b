/**
 * The core's utility process: plain Node under Electron, so a busy or crashed trainer never freezes
 * the window. The main process hands over one MessagePort per renderer connection; each port gets
 * its own protocol session. Training children come from main too (electron/trainChannel.ts).
 */
import type { MessagePortMain } from 'electron';
import { createCore } from '../../core/host/createCore.js';
import { createSession } from '../../core/host/session.js';
import { TrainChildBroker } from './UtilityTrainChild.js';

const parentPort = process.parentPort;
// Training children are utility processes main starts on request (RunAsNode is fused off).
const training = new TrainChildBroker((m) => parentPort.postMessage(m));
const core = await createCore({
  runsDir: process.env.SWITCHYARD_RUNS_DIR,
  backend: (process.env.SWITCHYARD_BACKEND as never) ?? 'auto',
  spawnTrainChild: training.spawn,
});

parentPort.on('message', (e: { data: unknown; ports: MessagePortMain[] }) => {
  if (training.receive(e.data)) return;
  const data = e.data as { type?: string };
  if (data?.type !== 'connect') return;
  const port = e.ports[0];
  if (!port) return;
  const session = createSession(core.handlers, core.hub, (msg) => port.postMessage(msg as unknown));
  port.on('message', (m) => session.receive(m.data));
  port.on('close', () => session.close());
  port.start();
});

process.on('exit', () => void core.close());
parentPort.postMessage({ type: 'ready' });
