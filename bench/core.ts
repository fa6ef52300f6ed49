// bench/core: triode's core against plain promises, Effect 4 and Effection 4; and a limiter
// against p-limit, a hand-written semaphore and Effect's bounded forEach.
//   npm run bench:core
// Peers run in the same process, interleaved round by round. Outside a run triode's
// AsyncLocalStorage is disabled (Node < 24), so the baselines pay no hook: every peer runs in a
// clean state (bench/after-run checks that it is clean).
import { setTimeout as timerPromise } from 'node:timers/promises';
import { Deferred, Effect, Fiber } from 'effect';
import * as effection from 'effection';
import pLimit from 'p-limit';
import { CapacityLimiter, checkpoint, moveOnAfter, openNursery, run, sleep } from 'triode';
import { waitAllTasksBlocked } from 'triode/testing';
import { gc, interleaved, printTable, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CHECKPOINTS = 200_000;
const TASKS = 100_000;
const SLEEPERS = 100_000;
const DEADLINE_TASKS = 10_000;
// Effection 4 spends ~100-150 µs per spawn here, so it runs a tenth of the tasks (results are per task).
const EFFECTION_TASKS = 10_000;
const EFFECTION_DEADLINE_TASKS = 1_000;
const LIMITER_JOBS = 100_000;
const LIMITER_TOKENS = 16;
const HOUR_MS = 3_600_000;

function elapsed(t0: number): number {
  return performance.now() - t0;
}

// ---- a checkpoint vs a bare await (ns per operation) ----
async function checkpointTriode(): Promise<number> {
  return run(async () => {
    const t0 = performance.now();
    for (let i = 0; i < CHECKPOINTS; i++) await checkpoint();
    return (elapsed(t0) * 1e6) / CHECKPOINTS;
  });
}
async function checkpointPlain(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < CHECKPOINTS; i++) await null;
  return (elapsed(t0) * 1e6) / CHECKPOINTS;
}
async function checkpointEffection(): Promise<number> {
  // Effection has no checkpoint; the nearest is yielding an operation that awaits a resolved promise.
  return effection.run(function* () {
    const t0 = performance.now();
    for (let i = 0; i < CHECKPOINTS; i++) yield* effection.call(() => Promise.resolve());
    return (elapsed(t0) * 1e6) / CHECKPOINTS;
  });
}

async function checkpointEffect(): Promise<number> {
  // Effect's checkpoint: yieldNow (a schedule point; interruption is checked at every step).
  return Effect.runPromise(Effect.gen(function* () {
    const t0 = performance.now();
    for (let i = 0; i < CHECKPOINTS; i++) yield* Effect.yieldNow;
    return (elapsed(t0) * 1e6) / CHECKPOINTS;
  }));
}

// ---- spawn + join (µs per task) ----
async function noop(): Promise<void> {}
async function spawnTriode(): Promise<number> {
  return run(async () => {
    const t0 = performance.now();
    await openNursery(async (n) => {
      for (let i = 0; i < TASKS; i++) n.startSoon(noop);
    });
    return (elapsed(t0) * 1e3) / TASKS;
  });
}
async function spawnPlain(): Promise<number> {
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < TASKS; i++) all.push(noop());
  await Promise.all(all);
  return (elapsed(t0) * 1e3) / TASKS;
}
async function spawnEffection(): Promise<number> {
  return effection.run(function* () {
    const t0 = performance.now();
    const tasks: effection.Task<void>[] = [];
    for (let i = 0; i < EFFECTION_TASKS; i++) tasks.push(yield* effection.spawn(function* () {}));
    for (const task of tasks) yield* task;
    return (elapsed(t0) * 1e3) / EFFECTION_TASKS;
  });
}

async function spawnEffect(): Promise<number> {
  return Effect.runPromise(Effect.gen(function* () {
    const t0 = performance.now();
    const fibers: Fiber.Fiber<void>[] = [];
    for (let i = 0; i < TASKS; i++) fibers.push(yield* Effect.forkChild(Effect.void));
    yield* Fiber.joinAll(fibers);
    return (elapsed(t0) * 1e3) / TASKS;
  }));
}

// ---- 100,000 sleeping tasks cancelled at once (ms to cancel all; bytes of heap per sleeper) ----
interface SleepResult {
  /** µs per task, from the cancel call until every sleeper has unwound. */
  cancelUs: number;
  bytesPerTask: number;
}
async function sleepersTriode(): Promise<SleepResult> {
  return run(async () => {
    let bytesPerTask = 0;
    let t0 = 0;
    gc();
    const before = process.memoryUsage().heapUsed;
    await openNursery(async (n) => {
      for (let i = 0; i < SLEEPERS; i++) n.startSoon(sleep, 1e9);
      await waitAllTasksBlocked();
      gc();
      bytesPerTask = (process.memoryUsage().heapUsed - before) / SLEEPERS;
      t0 = performance.now();
      n.cancelScope.cancel();
    }); // returns once every sleeper has unwound
    return { cancelUs: (elapsed(t0) * 1e3) / SLEEPERS, bytesPerTask };
  });
}
async function sleepersPlain(): Promise<SleepResult> {
  gc();
  const before = process.memoryUsage().heapUsed;
  // One controller per task: 100,000 listeners on one shared signal is quadratic in Node
  // (EventTarget checks for duplicates) and takes minutes.
  const controllers: AbortController[] = [];
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < SLEEPERS; i++) {
    const controller = new AbortController();
    controllers.push(controller);
    all.push((async () => { await timerPromise(1e9, undefined, { signal: controller.signal }); })().catch(() => {}));
  }
  await new Promise((r) => setImmediate(r));
  gc();
  const bytesPerTask = (process.memoryUsage().heapUsed - before) / SLEEPERS;
  const t0 = performance.now();
  for (const controller of controllers) controller.abort();
  await Promise.all(all);
  return { cancelUs: (elapsed(t0) * 1e3) / SLEEPERS, bytesPerTask };
}
async function sleepersEffection(): Promise<SleepResult> {
  return effection.run(function* () {
    gc();
    const before = process.memoryUsage().heapUsed;
    const parent = yield* effection.spawn(function* () {
      for (let i = 0; i < EFFECTION_TASKS; i++) yield* effection.spawn(() => effection.sleep(1e9));
      yield* effection.suspend();
    });
    yield* effection.sleep(0);
    yield* effection.sleep(0);
    gc();
    const bytesPerTask = (process.memoryUsage().heapUsed - before) / EFFECTION_TASKS;
    const t0 = performance.now();
    yield* parent.halt();
    return { cancelUs: (elapsed(t0) * 1e3) / EFFECTION_TASKS, bytesPerTask };
  });
}

async function sleepersEffect(): Promise<SleepResult> {
  return Effect.runPromise(Effect.gen(function* () {
    gc();
    const before = process.memoryUsage().heapUsed;
    const forked = yield* Deferred.make<void>();
    const parent = yield* Effect.forkChild(Effect.gen(function* () {
      for (let i = 0; i < SLEEPERS; i++) yield* Effect.forkChild(Effect.sleep(HOUR_MS));
      yield* Deferred.succeed(forked, undefined);
      return yield* Effect.never;
    }));
    yield* Deferred.await(forked);
    // Let every child fiber start and reach its sleep.
    for (let i = 0; i < 3; i++) yield* Effect.sleep(1);
    gc();
    const bytesPerTask = (process.memoryUsage().heapUsed - before) / SLEEPERS;
    const t0 = performance.now();
    yield* Fiber.interrupt(parent); // returns once the parent and its children have unwound
    return { cancelUs: (elapsed(t0) * 1e3) / SLEEPERS, bytesPerTask };
  }));
}

// ---- 10,000 tasks, each under its own timeout (ms total) ----
async function deadlinesTriode(): Promise<number> {
  return run(async () => {
    const t0 = performance.now();
    await openNursery(async (n) => {
      for (let i = 0; i < DEADLINE_TASKS; i++) {
        n.startSoon(() => moveOnAfter(60_000, async () => {
          for (let j = 0; j < 10; j++) await checkpoint();
        }));
      }
    });
    return (elapsed(t0) * 1e3) / DEADLINE_TASKS;
  });
}
async function deadlinesPlain(): Promise<number> {
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < DEADLINE_TASKS; i++) {
    all.push((async () => {
      const signal = AbortSignal.timeout(60_000);
      for (let j = 0; j < 10; j++) {
        await null;
        signal.throwIfAborted();
      }
    })());
  }
  await Promise.all(all);
  return (elapsed(t0) * 1e3) / DEADLINE_TASKS;
}
async function deadlinesEffection(): Promise<number> {
  return effection.run(function* () {
    const t0 = performance.now();
    const tasks: effection.Task<unknown>[] = [];
    for (let i = 0; i < EFFECTION_DEADLINE_TASKS; i++) {
      tasks.push(yield* effection.spawn(() => effection.race([
        (function* () { for (let j = 0; j < 10; j++) yield* effection.call(() => Promise.resolve()); })(),
        effection.sleep(60_000),
      ])));
    }
    for (const task of tasks) yield* task;
    return (elapsed(t0) * 1e3) / EFFECTION_DEADLINE_TASKS;
  });
}

async function deadlinesEffect(): Promise<number> {
  return Effect.runPromise(Effect.gen(function* () {
    const t0 = performance.now();
    const work = Effect.gen(function* () {
      for (let j = 0; j < 10; j++) yield* Effect.yieldNow;
    });
    const fibers: Fiber.Fiber<unknown, unknown>[] = [];
    for (let i = 0; i < DEADLINE_TASKS; i++) fibers.push(yield* Effect.forkChild(Effect.timeout(work, 60_000)));
    yield* Fiber.joinAll(fibers);
    return (elapsed(t0) * 1e3) / DEADLINE_TASKS;
  }));
}

// ---- 100,000 trivial jobs, at most 16 at a time (µs per job) ----
async function trivialJob(): Promise<void> {}
async function limiterTriode(): Promise<number> {
  return run(async () => {
    const limiter = new CapacityLimiter(LIMITER_TOKENS);
    const t0 = performance.now();
    await openNursery(async (n) => {
      for (let i = 0; i < LIMITER_JOBS; i++) n.startSoon(() => limiter.use(trivialJob));
    });
    return (elapsed(t0) * 1e3) / LIMITER_JOBS;
  });
}
async function limiterPLimit(): Promise<number> {
  const limit = pLimit(LIMITER_TOKENS);
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < LIMITER_JOBS; i++) all.push(limit(trivialJob));
  await Promise.all(all);
  return (elapsed(t0) * 1e3) / LIMITER_JOBS;
}
/** The semaphore people write by hand: a counter and a FIFO of resolvers. */
class Semaphore {
  private readonly waiters: (() => void)[] = [];
  private head = 0;
  constructor(private free: number) {}
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await fn();
    } finally {
      if (this.head < this.waiters.length) this.waiters[this.head++]!();
      else this.free++;
    }
  }
}
async function limiterSemaphore(): Promise<number> {
  const semaphore = new Semaphore(LIMITER_TOKENS);
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < LIMITER_JOBS; i++) all.push(semaphore.use(trivialJob));
  await Promise.all(all);
  return (elapsed(t0) * 1e3) / LIMITER_JOBS;
}
async function limiterEffect(): Promise<number> {
  const jobs = Array.from({ length: LIMITER_JOBS }, (_, i) => i);
  return Effect.runPromise(Effect.gen(function* () {
    const t0 = performance.now();
    yield* Effect.forEach(jobs, () => Effect.promise(trivialJob), { concurrency: LIMITER_TOKENS, discard: true });
    return (elapsed(t0) * 1e3) / LIMITER_JOBS;
  }));
}
async function limiterEffection(): Promise<number> {
  // Effection 4 has no limiter; skipped (n/a) rather than measured against a hand-made one.
  return NaN;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push({
    case: 'checkpoint (vs await null)',
    unit: 'ns/op',
    ...(await interleaved(RUNS, {
      triode: checkpointTriode,
      'await null': checkpointPlain,
      // The same loop inside a run: on Node < 24 it pays triode's AsyncLocalStorage hook too.
      'hook on': () => run(checkpointPlain),
      effect: checkpointEffect,
      effection: checkpointEffection,
    })),
  });
  rows.push({
    case: `spawn+join ${TASKS} tasks`,
    unit: 'µs/task',
    ...(await interleaved(RUNS, { triode: spawnTriode, 'await null': spawnPlain, effect: spawnEffect, effection: spawnEffection })),
  });
  const sleepRuns: Record<string, SleepResult[]> = { triode: [], 'await null': [], effect: [], effection: [] };
  const sleepers: Record<string, () => Promise<SleepResult>> = { triode: sleepersTriode, 'await null': sleepersPlain, effect: sleepersEffect, effection: sleepersEffection };
  const cancelUs: Record<string, () => Promise<number>> = {};
  const bytes: Record<string, () => Promise<number>> = {};
  for (const name of Object.keys(sleepers)) {
    // One measurement gives both numbers: run it under "cancel", read its heap figure under "heap".
    cancelUs[name] = async () => {
      const result = await sleepers[name]!();
      sleepRuns[name]!.push(result);
      return result.cancelUs;
    };
    bytes[name] = async () => sleepRuns[name]!.shift()!.bytesPerTask;
  }
  const cancelRow = await interleaved(RUNS, cancelUs);
  rows.push({ case: `cancel ${SLEEPERS} sleepers at once`, unit: 'µs/task', ...cancelRow });
  rows.push({ case: 'heap per sleeping task', unit: 'bytes', ...(await interleaved(RUNS, bytes)) });
  rows.push({
    case: `${DEADLINE_TASKS} tasks, own timeout, 10 checkpoints`,
    unit: 'µs/task',
    ...(await interleaved(RUNS, { triode: deadlinesTriode, 'await null': deadlinesPlain, effect: deadlinesEffect, effection: deadlinesEffection })),
  });
  rows.push({
    case: `${LIMITER_JOBS} trivial jobs, ${LIMITER_TOKENS} at a time`,
    unit: 'µs/job',
    ...(await interleaved(RUNS, { triode: limiterTriode, 'await null': limiterSemaphore, effect: limiterEffect, effection: limiterEffection, 'p-limit': limiterPLimit })),
  });
  printTable('bench/core', rows);
  console.log(
    '\n"hook on": the await-null loop inside a run (on Node < 24 it pays the AsyncLocalStorage hook, as triode does).\n' +
      '"await null": plain promises (await null; Promise.all; timers/promises setTimeout + an AbortController each;\n' +
      'AbortSignal.timeout per task; a hand-written semaphore for the limiter). Effect 4: yieldNow, forkChild + Fiber.joinAll,\n' +
      'interrupt of a parent of sleeping fibers, Effect.timeout, forEach with concurrency 16. Effection 4: call(() =>\n' +
      'Promise.resolve()) as its checkpoint, spawn + yield* task, halt of a parent of sleepers, race([work, sleep]); it runs\n' +
      `${EFFECTION_TASKS} (timeouts: ${EFFECTION_DEADLINE_TASKS}) tasks, results per task; it has no limiter (n/a). triode's\n` +
      'limiter row: startSoon(() => limiter.use(job)) per job.',
  );
}

if (process.env.BENCH_ONLY) {
  const fns: Record<string, () => Promise<unknown>> = {
    checkpointTriode, checkpointPlain, checkpointEffect, checkpointEffection, spawnTriode, spawnPlain, spawnEffect, spawnEffection,
    sleepersTriode, sleepersPlain, sleepersEffect, sleepersEffection, deadlinesTriode, deadlinesPlain, deadlinesEffect, deadlinesEffection,
    limiterTriode, limiterPLimit, limiterSemaphore, limiterEffect,
  };
  for (const name of process.env.BENCH_ONLY.split(",")) {
    const t0 = performance.now();
    console.log(name, await fns[name]!(), `${(performance.now() - t0).toFixed(0)} ms`);
  }
} else {
  await main();
}
