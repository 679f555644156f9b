/**
 * `switchyard train <space.json> [flags]`: trains in this process (a CLI has no UI thread to keep
 * free), writing the run to the runs folder like the app does, so `switchyard search <runId>` and the
 * app's run list see it.
 */
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { z } from 'zod';
import { FASHION_MNIST_DIR } from '../data/fashionMnist.js';
import { FORTUNES_DIR } from '../data/textCorpus.js';
import { parseFlags } from '../protocol/cliFlags.js';
import {
  BackendChoice,
  parseOrThrow,
  ProtocolError,
  Strategy,
  TrainConfig,
  type DatasetConfig,
  type MetricPoint,
} from '../protocol/protocol.js';
import { accuracyInterval, formatAccuracy } from '../protocol/accuracyInterval.js';
import type { SearchSpace } from '../space/SearchSpace.js';
import { validateSpace } from '../space/validateSpace.js';
import { activationBudgetFor, activationMemoryIssues } from '../space/activationMemory.js';
import { defaultRunsDir, newRunRecord, RunStore } from './RunStore.js';
import { RunBusyError } from './runLock.js';
import { runTraining, type RunTrainingOptions, type RunTrainingResult } from './runTraining.js';
import { TRAINING_STRATEGY_NAMES } from '../protocol/strategyNames.js';

const TRAIN_USAGE = `Usage: switchyard train <space.json> [flags]
  --data spirals|gaussians|fashion-mnist[:DIR]|text[:DIR]|sequence-tasks
                       dataset (default: spirals for 2-D inputs, fashion-mnist otherwise); text reads a folder of
                       .txt or fortune files (default /usr/share/games/fortunes)
  --limit N            use only the first N training images (fashion-mnist), characters per split (text) or
                       N samples in all (sequence-tasks, at least 64)
  --steps N            training steps (default 500)
  --batch N            batch size (default 128)
  --lr X               learning rate (default 0.003)
  --grad-clip X        clip the step's gradients to global L2 norm X (language models: 1)
  --warmup N           linear warm-up over N steps, then cosine decay to lr/10 (nanoGPT's schedule)
  --strategy S         ${TRAINING_STRATEGY_NAMES.join(' | ')} (default spos)
  --optimizer O        adam | sgd | momentum (default adam)
  --seed N             random seed (default 1)
  --eval-every N       validate every N steps (default 50)
  --checkpoint-every N checkpoint every N steps (default 100)
  --backend B          auto | tensorflow | webgpu | wasm | cpu (default auto)
  --runs-dir DIR       where runs are stored (default ${defaultRunsDir()})
  --resume RUNID       continue an interrupted or stopped run (no space file needed)
  --upcycle-from R,…   initialise the experts from these trained runs' FFNs (BAM upcycling: expert k ← run
                       k mod R, fresh routers, other weights averaged); same runs folder
  --json               print one JSON result object and no progress`;

const num = z.coerce.number();
const TrainFlags = z
  .object({
    data: z.string().optional(),
    limit: num.int().min(0).optional(),
    steps: num.int().min(1).optional(),
    batch: num.int().min(1).optional(),
    lr: num.gt(0).optional(),
    'grad-clip': num.gt(0).optional(),
    warmup: num.int().min(0).optional(),
    strategy: Strategy.optional(),
    optimizer: z.enum(['adam', 'sgd', 'momentum']).optional(),
    seed: num.int().optional(),
    'eval-every': num.int().min(1).optional(),
    'checkpoint-every': num.int().min(1).optional(),
    backend: BackendChoice.optional(),
    'runs-dir': z.string().optional(),
    resume: z.string().min(1).optional(),
    'upcycle-from': z.string().min(1).optional(),
    json: z.literal(true).optional(),
    name: z.string().optional(),
    help: z.literal(true).optional(),
  })
  .strict();
type TrainFlags = z.infer<typeof TrainFlags>;

/** `--data` value → DatasetConfig; synthetic sets get as many classes as the space has. */
export function parseDataFlag(value: string | undefined, space: SearchSpace, flags: Pick<TrainFlags, 'limit' | 'seed'>): DatasetConfig {
  const is2d = space.input.kind === 'vector' && space.input.dim === 2;
  const v = value ?? (is2d ? 'spirals' : space.input.kind === 'tokens' ? 'text' : 'fashion-mnist');
  const [kind, ...rest] = v.split(':');
  const dir = rest.join(':');
  const seed = flags.seed ?? 1;
  switch (kind) {
    case 'spirals':
      return { kind: 'spirals', classes: Math.min(16, space.numClasses), samples: 4000, noise: 0.2, seed };
    case 'gaussians':
      return { kind: 'gaussians', classes: Math.min(64, space.numClasses), samples: 4000, spread: 0.6, seed };
    case 'fashion-mnist':
      return {
        kind: 'fashion-mnist',
        dir: dir || FASHION_MNIST_DIR,
        limit: flags.limit ?? 0,
        flatten: space.input.kind === 'vector',
        // A sequence input of T tokens reads the image as T square patches (16 tokens → 7×7).
        ...(space.input.kind === 'sequence' ? { patch: Math.round(Math.sqrt(784 / space.input.length)) } : {}),
      };
    case 'text':
      // The context is the space's token length.
      return { kind: 'text', dir: dir || FORTUNES_DIR, seqLen: space.input.kind === 'tokens' ? space.input.length : 64, seed, maxChars: flags.limit ?? 0 };
    case 'sequence-tasks': {
      // A sample is 2n tokens (n letters, <sep>, n − 1 answer letters as input) over symbols + 1 ids.
      const tokens = space.input.kind === 'tokens' ? space.input : { length: 16, vocab: 11 };
      const samples = flags.limit ? Math.max(64, flags.limit) : 6000;
      return { kind: 'sequence-tasks', tasks: ['copy', 'reverse', 'sort'], length: Math.max(2, Math.floor(tokens.length / 2)), symbols: Math.min(26, tokens.vocab - 1), samples, seed };
    }
    default:
      throw new ProtocolError('invalid', `--data: unknown dataset "${kind}" (use spirals, gaussians, fashion-mnist[:DIR], text[:DIR] or sequence-tasks)`, [
        { path: '--data', message: `unknown dataset "${kind}"` },
      ]);
  }
}

async function readSpace(file: string): Promise<SearchSpace> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ProtocolError('invalid', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError('invalid', `${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = validateSpace(json);
  if (!r.ok) {
    const first = r.issues[0]!;
    throw new ProtocolError('invalid', `${file}: ${first.path}: ${first.message}`, r.issues);
  }
  return r.space;
}

/** A one-line progress display: a redrawn bar on a TTY, a line every 10% (and at validations) otherwise. */
export class TrainProgress {
  private lastLine = -1;
  private val: string | undefined;
  constructor(
    private readonly steps: number,
    private readonly out: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>,
  ) {}

  update(p: MetricPoint) {
    if (p.valAccuracy !== undefined) {
      const n = p.valSamples ?? 0;
      this.val = formatAccuracy({ split: 'val', accuracy: p.valAccuracy, n, ci95: p.valCi95 ?? accuracyInterval(Math.round(p.valAccuracy * n), n) });
    }
    const frac = p.step / this.steps;
    const eta = formatSeconds(p.etaSec);
    const text = `step ${p.step}/${this.steps}  loss ${p.loss.toFixed(4)}  acc ${p.accuracy.toFixed(3)}${this.val !== undefined ? `  val ${this.val}` : ''}  ETA ${eta}`;
    if (this.out.isTTY) {
      const width = 24;
      const filled = Math.round(frac * width);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${text}\x1b[K`);
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile > this.lastLine || p.valAccuracy !== undefined) {
      this.lastLine = decile;
      this.out.write(`${text}\n`);
    }
  }

  end() {
    if (this.out.isTTY) this.out.write('\n');
  }
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface TrainCommandSeams {
  /** Trains the run elsewhere (`--queue`: a job on a worker, core/queue/queueCli.ts); default: here. */
  execute?: (opts: RunTrainingOptions) => Promise<RunTrainingResult>;
}

export async function runTrainCommand(argv: string[], seams: TrainCommandSeams = {}): Promise<number> {
  const { flags: raw, positionals } = parseFlags(argv, ['json', 'help']);
  const flags = parseOrThrow(TrainFlags, raw, 'flags');
  if (flags.help) {
    console.log(TRAIN_USAGE);
    return 0;
  }
  const store = new RunStore(flags['runs-dir'] ?? defaultRunsDir());
  let runId: string;
  let resume = false;
  if (flags.resume) {
    runId = flags.resume;
    const rec = await store.readRecord(runId).catch(() => {
      throw new ProtocolError('not_found', `--resume: run "${runId}" not found in ${store.root}`);
    });
    if (rec.summary.status === 'completed') throw new ProtocolError('invalid', `--resume: run "${runId}" has already completed`);
    resume = true;
  } else {
    const file = positionals[0];
    if (!file) throw new ProtocolError('invalid', `a search-space file is needed\n\n${TRAIN_USAGE}`, [{ path: '<space.json>', message: 'missing' }]);
    const space = await readSpace(file);
    const config = parseOrThrow(
      TrainConfig,
      {
        name: flags.name,
        space,
        data: parseDataFlag(flags.data, space, flags),
        strategy: flags.strategy,
        steps: flags.steps,
        batchSize: flags.batch,
        learningRate: flags.lr,
        gradClip: flags['grad-clip'],
        lrSchedule: flags.warmup !== undefined ? { kind: 'cosine', warmupSteps: flags.warmup, minRatio: 0.1 } : undefined,
        optimizer: flags.optimizer,
        seed: flags.seed,
        backend: flags.backend,
        evalEvery: flags['eval-every'],
        checkpointEvery: flags['checkpoint-every'],
        upcycleFrom: flags['upcycle-from']?.split(',').map((r) => r.trim()),
      },
      'train config',
    );
    for (const [i, id] of (config.upcycleFrom ?? []).entries()) {
      if (!(await store.exists(id))) throw new ProtocolError('not_found', `--upcycle-from[${i}]: run "${id}" not found in ${store.root}`, [{ path: `--upcycle-from[${i}]`, message: 'not found' }]);
    }
    const memory = activationMemoryIssues(config.space, config.batchSize, activationBudgetFor(totalmem()));
    if (memory.length > 0) throw new ProtocolError('invalid', `${file}: ${memory[0]!.message}`, memory);
    runId = store.newRunId();
    const record = newRunRecord(runId, config);
    await store.createRun(record);
  }

  const { steps, arch } = (await store.readRecord(runId)).config;
  const progress = flags.json ? null : new TrainProgress(steps, process.stderr);
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  if (!flags.json) console.error(`run ${runId} in ${store.runDir(runId)}`);
  const outcome = await (seams.execute ?? runTraining)({
    store,
    runId,
    resume,
    backend: flags.backend,
    signal: ac.signal,
    finalTest: true,
    onStep: (p) => progress?.update(p),
    emit: (e) => {
      if (!flags.json && e.kind === 'log' && e.level !== 'info') console.error(`${e.level}: ${e.message}`);
    },
  })
    .catch((e: unknown) => {
      // Another process (the app, or a second CLI) holds the run's lock: one trainer per run.
      if (e instanceof RunBusyError) throw new ProtocolError('busy', `${resume ? '--resume: ' : ''}${e.message}`);
      throw e;
    })
    .finally(() => process.off('SIGINT', onSigint));
  progress?.end();
  const s = outcome.summary;
  if (flags.json) {
    console.log(
      JSON.stringify({
        runId,
        runDir: store.runDir(runId),
        status: s.status,
        step: s.step,
        steps: s.steps,
        backend: s.backend,
        device: s.device,
        lastLoss: s.lastLoss,
        bestValAccuracy: s.bestValAccuracy,
        ...(s.finalTokens ? { tokens: s.finalTokens } : {}),
        validation: s.finalVal ?? null,
        test: outcome.test,
        testAccuracy: outcome.testAccuracy,
        elapsedSec: outcome.result?.elapsedSec ?? null,
        error: s.error,
      }),
    );
  } else if (s.status === 'completed') {
    // Validation is what runs and subnets are selected on; test is the final report, scored once.
    // Both score the trainer's evaluation subnet (Trainer.ts evaluationArch): the fixed arch, else the largest.
    const of = arch ? 'the fixed subnet' : 'the largest subnet';
    console.log(`validation accuracy of ${of} ${s.finalVal ? formatAccuracy(s.finalVal) : 'n/a'}`);
    const t = s.finalTokens;
    if (t) {
      const base = t.unigramBitsPerToken !== undefined ? `; unigram baseline ${t.unigramBitsPerToken.toFixed(3)}` : '';
      console.log(`validation ${t.bitsPerToken.toFixed(3)} bits per token, perplexity ${t.perplexity.toFixed(2)} (val, n=${t.n} tokens${base})`);
    }
    console.log(
      `test accuracy of ${of} ${outcome.test ? formatAccuracy(outcome.test) : 'n/a'} ` +
        `(${s.steps} steps on ${s.device}, ${outcome.result ? formatSeconds(outcome.result.elapsedSec) : '?'}) — run ${runId}`,
    );
  } else if (s.status === 'stopped') {
    console.log(`stopped at step ${s.step}/${s.steps}; continue with: switchyard train --resume ${runId} --runs-dir ${store.root}`);
  } else {
    console.error(`training failed: ${s.error ?? s.status}`);
  }
  return s.status === 'completed' ? 0 : s.status === 'stopped' ? 130 : 1;
}
