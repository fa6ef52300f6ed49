// bench/core: triode's core against plain promises and Effection.
//   npm run bench:core
import { setTimeout as timerPromise } from 'node:timers/promises';
import * as effection from 'effection';
import { checkpoint, moveOnAfter, openNursery, run, sleep } from 'triode';
import { waitAllTasksBlocked } from 'triode/testing';
import { gc, median, printTable, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CHECKPOINTS = 200_000;
const TASKS = 100_000;
const SLEEPERS = 100_000;
const DEADLINE_TASKS = 10_000;
// Effection 4 spends ~100-150 µs per spawn here, so it runs a tenth of the tasks (results are per task).
const EFFECTION_TASKS = 10_000;
const EFFECTION_DEADLINE_TASKS = 1_000;

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

async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push({
    case: 'checkpoint (vs await null)',
    unit: 'ns/op',
    results: {
      triode: await median(RUNS, checkpointTriode),
      'await null': await median(RUNS, checkpointPlain),
      effection: await median(RUNS, checkpointEffection),
    },
  });
  rows.push({
    case: `spawn+join ${TASKS} tasks`,
    unit: 'µs/task',
    results: {
      triode: await median(RUNS, spawnTriode),
      'await null': await median(RUNS, spawnPlain),
      effection: await median(RUNS, spawnEffection),
    },
  });
  const sleepRuns = { triode: [] as SleepResult[], plain: [] as SleepResult[], effection: [] as SleepResult[] };
  for (let i = 0; i < RUNS; i++) {
    sleepRuns.triode.push(await sleepersTriode());
    sleepRuns.plain.push(await sleepersPlain());
    sleepRuns.effection.push(await sleepersEffection());
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  rows.push({
    case: `cancel ${SLEEPERS} sleepers at once`,
    unit: 'µs/task',
    results: {
      triode: med(sleepRuns.triode.map((r) => r.cancelUs)),
      'await null': med(sleepRuns.plain.map((r) => r.cancelUs)),
      effection: med(sleepRuns.effection.map((r) => r.cancelUs)),
    },
  });
  rows.push({
    case: `heap per sleeping task`,
    unit: 'bytes',
    results: {
      triode: med(sleepRuns.triode.map((r) => r.bytesPerTask)),
      'await null': med(sleepRuns.plain.map((r) => r.bytesPerTask)),
      effection: med(sleepRuns.effection.map((r) => r.bytesPerTask)),
    },
  });
  rows.push({
    case: `${DEADLINE_TASKS} tasks, own timeout, 10 checkpoints`,
    unit: 'µs/task',
    results: {
      triode: await median(RUNS, deadlinesTriode),
      'await null': await median(RUNS, deadlinesPlain),
      effection: await median(RUNS, deadlinesEffection),
    },
  });
  printTable('bench/core', rows);
  console.log(
    '\n"await null": plain promises (await null; Promise.all; timers/promises setTimeout + an AbortController each;\n' +
      'AbortSignal.timeout per task). Effection 4: call(() => Promise.resolve()) as its checkpoint, spawn + yield* task,\n' +
      `halt of a parent of sleepers, race([work, sleep]); it runs ${EFFECTION_TASKS} (timeouts: ${EFFECTION_DEADLINE_TASKS}) tasks, results per task.`,
  );
}

if (process.env.BENCH_ONLY) {
  const fns: Record<string, () => Promise<unknown>> = { checkpointTriode, checkpointPlain, checkpointEffection, spawnTriode, spawnPlain, spawnEffection, sleepersTriode, sleepersPlain, sleepersEffection, deadlinesTriode, deadlinesPlain, deadlinesEffection };
  for (const name of process.env.BENCH_ONLY.split(",")) {
    const t0 = performance.now();
    console.log(name, await fns[name]!(), `${(performance.now() - t0).toFixed(0)} ms`);
  }
} else {
  await main();
}
