// Test double of trainProcess.ts for RunManager's tests: it speaks the same IPC messages and edits
// run.json the way the real child does, but trains nothing, so a test can start fifty of them or make
// one die at a chosen moment. What it does comes from <runsDir>/fake-child.json ({ "mode": ... }):
//   wait              'running', then wait for <runsDir>/release (or 'stop'), then 'completed' + done
//   exit-before-done  write 'completed' to run.json and exit before any 'done' message is sent
//   banner-then-kill  print log lines, then the TF.js banner, then SIGKILL itself
// Each start and end is appended to <runsDir>/fake-child.log as "start|end <runId> <pid>".
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BANNER =
  '\n============================\nHi, looks like you are running TensorFlow.js in Node.js. To speed things up dramatically, ' +
  'install our node backend, visit https://github.com/tensorflow/tfjs-node for more details. \n============================';

let stopped = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

process.on('message', async (m) => {
  if (m.type === 'stop') {
    stopped = true;
    return;
  }
  if (m.type !== 'start') return;
  const dir = join(m.runsDir, m.runId);
  const { mode } = JSON.parse(readFileSync(join(m.runsDir, 'fake-child.json'), 'utf8'));
  const log = (what) => appendFileSync(join(m.runsDir, 'fake-child.log'), `${what} ${m.runId} ${process.pid}\n`);
  const setStatus = (status) => {
    const file = join(dir, 'run.json');
    const rec = JSON.parse(readFileSync(file, 'utf8'));
    rec.summary.status = status;
    writeFileSync(`${file}.fake.tmp`, JSON.stringify(rec));
    renameSync(`${file}.fake.tmp`, file);
    return rec.summary;
  };
  log('start');
  process.send({ type: 'event', event: { kind: 'status', runId: m.runId, summary: setStatus('running') } });
  if (mode === 'wait') {
    while (!stopped && !existsSync(join(m.runsDir, 'release'))) await sleep(10);
    const summary = setStatus(stopped ? 'stopped' : 'completed');
    log('end');
    process.send({ type: 'event', event: { kind: 'status', runId: m.runId, summary } });
    process.send({ type: 'done', summary }, () => process.exit(0));
  } else if (mode === 'exit-before-done') {
    setStatus('completed');
    log('end');
    process.exit(0);
  } else if (mode === 'banner-then-kill') {
    console.error('loading dataset spirals (800 samples)');
    console.error('step 3: out of memory in the MoE dispatch');
    console.error(BANNER);
    process.kill(process.pid, 'SIGKILL');
  }
});
