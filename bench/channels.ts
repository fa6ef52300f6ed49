// bench/channels: triode's memory channels and Lock against plain promises (a lean hand-written
// queue and mutex), Effect 4's Queue and Semaphore, and Effection 4's queue.
//   npm run bench:channels
// Peers run in the same process, interleaved round by round; outside a run triode's
// AsyncLocalStorage is disabled, so the plain-promise baselines pay no hook.
import { Effect, Fiber, Queue, Semaphore } from 'effect';
import * as effection from 'effection';
import { Lock, openMemoryChannel, openNursery, run } from 'triode';
import { interleaved, printTable, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MESSAGES = 200_000;
const LOCK_TASKS = 100;
const LOCK_ROUNDS = 1_000; // per task

/** The queue people write by hand: bounded, FIFO, promise-based, with backpressure. */
class PromiseQueue<T> {
  private items: T[] = [];
  private head = 0;
  private readonly getters: Array<(v: T) => void> = [];
  private readonly putters: Array<() => void> = [];
  constructor(private readonly capacity: number) {}
  async send(value: T): Promise<void> {
    const getter = this.getters.shift();
    if (getter !== undefined) return getter(value);
    if (this.items.length - this.head < this.capacity) {
      this.items.push(value);
      return;
    }
    await new Promise<void>((resolve) => this.putters.push(resolve));
    return this.send(value);
  }
  async receive(): Promise<T> {
    if (this.items.length > this.head) {
      const value = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.putters.shift()?.();
      return value;
    }
    const putter = this.putters.shift();
    if (putter !== undefined) putter();
    return new Promise<T>((resolve) => this.getters.push(resolve));
  }
}

/** The mutex people write by hand: FIFO hand-off through promises. */
class PromiseMutex {
  private locked = false;
  private readonly waiters: Array<() => void> = [];
  async acquire(): Promise<void> {
    if (!this.locked) {
      this.locked = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.locked = false;
  }
}

function rate(count: number, t0: number): number {
  return count / ((performance.now() - t0) / 1000);
}

async function triodeChannel(size: number, pairs: number): Promise<number> {
  return run(async () => {
    const per = Math.floor(MESSAGES / pairs);
    const t0 = performance.now();
    await openNursery(async (n) => {
      for (let p = 0; p < pairs; p++) {
        const [tx, rx] = openMemoryChannel<number>(size);
        n.startSoon(async () => {
          for (let i = 0; i < per; i++) await tx.send(i);
          tx.close();
        });
        n.startSoon(async () => {
          for await (const _ of rx);
        });
      }
    });
    return rate(per * pairs, t0);
  });
}

async function promiseChannel(size: number, pairs: number): Promise<number> {
  const per = Math.floor(MESSAGES / pairs);
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let p = 0; p < pairs; p++) {
    // A rendezvous is a 0-slot buffer: send waits until a receiver takes the value.
    const q = new PromiseQueue<number>(size);
    all.push((async () => { for (let i = 0; i < per; i++) await q.send(i); })());
    all.push((async () => { for (let i = 0; i < per; i++) await q.receive(); })());
  }
  await Promise.all(all);
  return rate(per * pairs, t0);
}

async function effectionQueue(pairs: number): Promise<number> {
  // Effection's queue has no capacity (add() never waits): the same number for both buffer sizes.
  return effection.run(function* () {
    const per = Math.floor(MESSAGES / pairs);
    const t0 = performance.now();
    const tasks: effection.Task<void>[] = [];
    for (let p = 0; p < pairs; p++) {
      const queue = effection.createQueue<number, void>();
      tasks.push(yield* effection.spawn(function* () {
        for (let i = 0; i < per; i++) {
          queue.add(i);
          yield* effection.call(() => Promise.resolve()); // let the consumer run, as a send would
        }
        queue.close();
      }));
      tasks.push(yield* effection.spawn(function* () {
        for (;;) {
          const next = yield* queue.next();
          if (next.done) break;
        }
      }));
    }
    for (const task of tasks) yield* task;
    return rate(per * pairs, t0);
  });
}

async function effectQueue(size: number, pairs: number): Promise<number> {
  // Effect's smallest bounded queue holds one value (no rendezvous): measured at 1 for the 0 rows.
  return Effect.runPromise(Effect.gen(function* () {
    const per = Math.floor(MESSAGES / pairs);
    const t0 = performance.now();
    const fibers: Fiber.Fiber<void>[] = [];
    for (let p = 0; p < pairs; p++) {
      const queue = yield* Queue.bounded<number>(Math.max(1, size));
      fibers.push(yield* Effect.forkChild(Effect.gen(function* () {
        for (let i = 0; i < per; i++) yield* Queue.offer(queue, i);
      })));
      fibers.push(yield* Effect.forkChild(Effect.gen(function* () {
        for (let i = 0; i < per; i++) yield* Queue.take(queue);
      })));
    }
    yield* Fiber.joinAll(fibers);
    return rate(per * pairs, t0);
  }));
}

async function effectLock(): Promise<number> {
  return Effect.runPromise(Effect.gen(function* () {
    const semaphore = yield* Semaphore.make(1);
    const acquireRelease = Semaphore.withPermit(semaphore)(Effect.void);
    const t0 = performance.now();
    const fibers: Fiber.Fiber<void>[] = [];
    for (let t = 0; t < LOCK_TASKS; t++) {
      fibers.push(yield* Effect.forkChild(Effect.gen(function* () {
        for (let i = 0; i < LOCK_ROUNDS; i++) yield* acquireRelease;
      })));
    }
    yield* Fiber.joinAll(fibers);
    return rate(LOCK_TASKS * LOCK_ROUNDS, t0);
  }));
}

async function triodeLock(): Promise<number> {
  return run(async () => {
    const lock = new Lock();
    const t0 = performance.now();
    await openNursery(async (n) => {
      for (let t = 0; t < LOCK_TASKS; t++) {
        n.startSoon(async () => {
          for (let i = 0; i < LOCK_ROUNDS; i++) {
            await lock.acquire();
            lock.release();
          }
        });
      }
    });
    return rate(LOCK_TASKS * LOCK_ROUNDS, t0);
  });
}

async function promiseLock(): Promise<number> {
  const mutex = new PromiseMutex();
  const t0 = performance.now();
  const all: Promise<void>[] = [];
  for (let t = 0; t < LOCK_TASKS; t++) {
    all.push((async () => {
      for (let i = 0; i < LOCK_ROUNDS; i++) {
        await mutex.acquire();
        mutex.release();
      }
    })());
  }
  await Promise.all(all);
  return rate(LOCK_TASKS * LOCK_ROUNDS, t0);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const [label, size] of [['rendezvous (0)', 0], ['1,024-slot buffer', 1024]] as const) {
    for (const pairs of [1, 4]) {
      rows.push({
        case: `${label}, ${pairs} pair${pairs > 1 ? 's' : ''}`,
        unit: 'msgs/s',
        ...(await interleaved(RUNS, {
          triode: () => triodeChannel(size, pairs),
          'plain promises': () => promiseChannel(size, pairs),
          // The same queue inside a run: on Node < 24 it pays triode's AsyncLocalStorage hook too.
          'plain, hook on': () => run(() => promiseChannel(size, pairs)),
          effect: () => effectQueue(size, pairs),
          effection: () => effectionQueue(pairs),
        })),
      });
    }
  }
  rows.push({
    case: `lock acquire+release, ${LOCK_TASKS} tasks`,
    unit: 'pairs/s',
    ...(await interleaved(RUNS, { triode: triodeLock, 'plain promises': promiseLock, 'plain, hook on': () => run(promiseLock), effect: effectLock })),
  });
  printTable('bench/channels', rows, 'triode', 'higher');
  console.log(
    `\n${MESSAGES} messages per case. "plain promises": a hand-written bounded promise queue / FIFO mutex; "plain, hook on":\n` +
      'the same inside a triode run (on Node < 24 every promise then pays the AsyncLocalStorage hook, as triode\'s do).\n' +
      'Effect 4: Queue.bounded (capacity 1 for the rendezvous rows: it has no 0), Semaphore.withPermit as the lock.\n' +
      'Effection 4 has no bounded channel and no lock: its createQueue (unbounded, add() never waits) is\n' +
      'measured for every channel row, yielding after each add so the consumer runs; no lock (n/a).',
  );
}

await main();
