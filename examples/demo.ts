// `npm run demo`: what triode is for, in a few seconds, on any machine.
//
// Default mode: the same compression jobs (text generated from a seed, deflated at level 9) run
// first on the main thread alone, then on worker threads; the results are compared and the
// speed-up printed. `--cancel`: jobs run on every thread, one fails, and the failure cancels all
// the others across threads; the demo prints how long they took to stop.
//
// Everything runs under one triode run: Ctrl-C cancels whatever phase is running (the main-thread
// loop checkpoints between jobs; worker jobs are cancelled through the cancel scope) and exits
// with 130; `--timeout` is one `failAfter` around it all.
import { availableParallelism } from 'node:os';
import {
  CapacityLimiter,
  checkpoint,
  failAfter,
  openNursery,
  openWorkerPool,
  run,
  sleep,
  workerModule,
  type WorkerPool,
} from 'triode';
import { endProgram } from './program-exit.js';
import { compress, type Compressed } from './demo-worker.js';

const USAGE = `usage: npm run demo -- [options]

  --jobs <n>       compression jobs (default 64)
  --size <kb>      text per job, in KiB (default 256)
  --threads <n>    worker threads (default: the machine's parallelism, ${availableParallelism()})
  --timeout <ms>   stop after this long (exit code 1)
  --cancel         show structured cancellation across threads instead: one job fails,
                   every other thread's job is cancelled; prints how long that took
  --help           this text

Ctrl-C stops any phase (exit code 130).`;

class UsageError extends Error {}

interface Options {
  jobs: number;
  sizeKb: number;
  threads: number;
  timeoutMs: number;
  cancelMode: boolean;
  help: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { jobs: 64, sizeKb: 256, threads: availableParallelism(), timeoutMs: Infinity, cancelMode: false, help: false };
  const count = (name: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < min) {
      throw new UsageError(`${name} needs a whole number ≥ ${min}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--cancel') options.cancelMode = true;
    else if (arg === '--jobs') options.jobs = count(arg, argv[++i], 1);
    else if (arg === '--size') options.sizeKb = count(arg, argv[++i], 1);
    else if (arg === '--threads') options.threads = count(arg, argv[++i], 1);
    else if (arg === '--timeout') options.timeoutMs = count(arg, argv[++i], 0);
    else throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
  }
  return options;
}

// ---- progress: one line, redrawn by a task of its own ----------------------------------------

const tty = process.stdout.isTTY === true;
const progress = { phase: 'starting', done: 0, total: 0, phaseStarted: performance.now() };
const runStarted = performance.now();

function startPhase(phase: string, total: number): void {
  progress.phase = phase;
  progress.done = 0;
  progress.total = total;
  progress.phaseStarted = performance.now();
}

function bar(): string {
  const width = 30;
  const filled = progress.total === 0 ? 0 : Math.round((progress.done / progress.total) * width);
  const seconds = (performance.now() - progress.phaseStarted) / 1000;
  return `${progress.phase.padEnd(20)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progress.done}/${progress.total}  ${seconds.toFixed(1)} s`;
}

async function showProgress(): Promise<never> {
  for (;;) {
    if (tty) process.stdout.write(`\r${bar()}`);
    await sleep(100);
  }
}

/** Ends the progress line of a phase with its final state. */
function endPhase(): void {
  if (tty) process.stdout.write(`\r${bar()}\n`);
  else console.log(bar());
}

// ---- default mode: one thread, then worker threads ---------------------------------------------

async function oneThread(options: Options): Promise<{ seconds: number; results: Compressed[] }> {
  startPhase('one thread', options.jobs);
  const results: Compressed[] = [];
  const t0 = performance.now();
  for (let seed = 0; seed < options.jobs; seed++) {
    results.push(compress(seed, options.sizeKb));
    progress.done++;
    await checkpoint(); // Ctrl-C and --timeout reach this loop between jobs
  }
  const seconds = (performance.now() - t0) / 1000;
  endPhase();
  return { seconds, results };
}

async function workerThreads(options: Options, pool: WorkerPool): Promise<{ seconds: number; results: Compressed[] }> {
  // At most one job per thread at a time; the rest wait in the limiter (a cancellable wait).
  const limiter = new CapacityLimiter(options.threads);
  const jobs = workerModule<typeof import('./demo-worker.js')>(new URL('./demo-worker.js', import.meta.url), { pool, limiter });
  startPhase(`${options.threads} worker threads`, options.jobs);
  // Load the module in every thread first, so the timing is of the jobs.
  await openNursery(async (nursery) => {
    for (let t = 0; t < options.threads; t++) nursery.startSoon(() => jobs.compress(0, 64));
  });
  const results: Compressed[] = new Array(options.jobs);
  const t0 = performance.now();
  await openNursery(async (nursery) => {
    for (let seed = 0; seed < options.jobs; seed++) {
      nursery.startSoon(async () => {
        results[seed] = await jobs.compress(seed, options.sizeKb);
        progress.done++;
      });
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  endPhase();
  return { seconds, results };
}

async function speedUp(options: Options, pool: WorkerPool): Promise<void> {
  console.log(`compressing ${options.jobs} × ${options.sizeKb} KiB of generated text, first on one thread, then on ${options.threads} worker threads`);
  const one = await oneThread(options);
  const many = await workerThreads(options, pool);
  const same = one.results.every((r, i) => r.digest === many.results[i]!.digest && r.outBytes === many.results[i]!.outBytes);
  if (!same) throw new Error('the worker threads computed different results: a bug');
  const inMb = one.results.reduce((n, r) => n + r.inBytes, 0) / 2 ** 20;
  const outMb = one.results.reduce((n, r) => n + r.outBytes, 0) / 2 ** 20;
  console.log(`${inMb.toFixed(1)} MiB → ${outMb.toFixed(1)} MiB, identical results on both paths`);
  console.log(`one thread: ${one.seconds.toFixed(2)} s; ${options.threads} worker threads: ${many.seconds.toFixed(2)} s`);
  console.log(`speed-up: ${(one.seconds / many.seconds).toFixed(2)}×`);
  startPhase('closing the pool', 0);
}

// ---- --cancel: one failure stops every thread ------------------------------------------------

async function structuredCancellation(options: Options, pool: WorkerPool): Promise<void> {
  const jobs = workerModule<typeof import('./demo-worker.js')>(new URL('./demo-worker.js', import.meta.url), { pool });
  const others = Math.max(1, options.threads * 2 - 1);
  console.log(`${others} jobs of 60 s each on ${options.threads} threads (and queued), and one that fails after 300 ms of work`);
  startPhase('running', others + 1);
  let failedAt = 0;
  let cancelledJobs = 0;
  try {
    await openNursery(async (nursery) => {
      // The failing job first, so it runs at once; the others fill the threads and the queue.
      nursery.startSoon(async () => {
        try {
          await jobs.failAfterWork(300);
        } finally {
          failedAt = performance.now();
          progress.done++;
        }
      });
      for (let i = 0; i < others; i++) {
        nursery.startSoon(async () => {
          try {
            await jobs.compressFor(i * 1000, 60_000);
          } finally {
            cancelledJobs++;
            progress.done++;
          }
        });
      }
    });
  } catch (error) {
    const stoppedAt = performance.now();
    endPhase();
    const failure = (error as AggregateError).errors?.[0] as Error | undefined;
    console.log(`one job failed: ${failure?.message ?? String(error)}`);
    console.log(
      `the nursery cancelled the other ${cancelledJobs} jobs (running and queued, on ${options.threads} threads): ` +
        `all stopped ${(stoppedAt - failedAt).toFixed(1)} ms after the failure reached the main thread`,
    );
    return;
  }
  throw new Error('the failing job did not fail');
}

// ---- main -------------------------------------------------------------------------------------

let options: Options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`demo: ${error.message} (try --help)`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}

let interruptedAt: number | undefined;
process.once('SIGINT', () => {
  interruptedAt = performance.now();
});

function summary(what: string): void {
  if (tty) process.stdout.write('\n');
  const elapsed = ((performance.now() - runStarted) / 1000).toFixed(2);
  const stopped = interruptedAt === undefined ? '' : ` (stopped ${(performance.now() - interruptedAt).toFixed(0)} ms after Ctrl-C)`;
  console.log(`${what} during "${progress.phase}" after ${elapsed} s${stopped}: ${progress.done}/${progress.total} jobs of that phase done`);
}

try {
  await run(() =>
    failAfter(options.timeoutMs, () =>
      openWorkerPool({ maxThreads: options.threads, minThreads: options.threads }, (pool) =>
        openNursery(async (nursery) => {
          nursery.startSoon(showProgress);
          if (options.cancelMode) await structuredCancellation(options, pool);
          else await speedUp(options, pool);
          nursery.cancelScope.cancel(); // stop the progress line
        }),
      ),
    ),
  );
} catch (error) {
  endProgram(error, summary, options.timeoutMs);
}
