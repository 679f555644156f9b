/**
 * Entry of the training child process (forked by RunManager). Training runs here, never on the
 * thread that serves the UI (STYLE rule 5); a crash loses only the steps since the last checkpoint.
 * Bundled as out/cli/trainProcess.mjs beside the CLI bundle.
 */
import { RunStore } from './RunStore.js';
import { RunBusyError } from './runLock.js';
import { runTraining } from './runTraining.js';
import { parentLink } from './parentLink.js';

// Node's IPC when forked; Electron's parent port when main started this as a utility process.
const parent = parentLink();
const send = parent.send;

const stop = new AbortController();
let started = false;

// A parent that goes away (crash, kill) cannot receive events any more: checkpoint and exit.
parent.onGone(() => stop.abort());
// Ctrl-C in a terminal signals the whole process group: stop at the next step with a checkpoint
// instead of dying mid-step (the parent's own shutdown also asks us to stop).
process.on('SIGINT', () => stop.abort());
process.on('SIGTERM', () => stop.abort());

parent.onMessage((raw) => {
  if (raw.type === 'stop') {
    stop.abort();
    return;
  }
  if (raw.type !== 'start' || started) return;
  started = true;
  void (async () => {
    const store = new RunStore(raw.runsDir);
    try {
      // runTraining writes the final status to run.json before it returns, so a parent that misses
      // the 'done' below still finds it there.
      const { summary } = await runTraining({
        store,
        runId: raw.runId,
        resume: raw.resume,
        backend: raw.backend,
        signal: stop.signal,
        emit: (event) => void send({ type: 'event', event }),
      });
      await send({ type: 'done', summary });
    } catch (e) {
      if (!(e instanceof RunBusyError)) throw e;
      await send({ type: 'busy', message: e.message });
    }
    parent.close();
    process.exit(0);
  })().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
});
