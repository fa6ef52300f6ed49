// bench/workers: triode's worker calls against piscina, tinypool, workerpool and a raw
// worker_threads dispatcher written here (postMessage to the least loaded thread, a Map of
// resolvers), with the same functions and 2 threads each.
//   npm run bench:workers
//
// Each measurement runs one peer alone in a fresh process (this file, with `--peer name`), and
// the rounds interleave the peers, so no peer runs while another has left something behind —
// triode's AsyncLocalStorage hook included: the peers are measured as they run without triode.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { printTable, type Row } from './harness.js';
import { burn } from './workers/burn.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CALLS = 20_000;
const IN_FLIGHT = 64;
/**
 * Calls every peer makes before it is measured: its threads start and its code is compiled by
 * the optimizing tiers, so the table compares steady states (a service's lot), not JIT warm-up
 * (triode's longer path takes ~40,000 calls to get there; with 5,000 it runs at ~70 % of it).
 */
const WARMUP_CALLS = Number(process.env.BENCH_WARMUP ?? 40_000);
const LATENCY_CALLS = 1000;
const BURN_CALLS = 2000;
/** Cancellations per measurement (their median is the measurement), each after the call ran this long. */
const CANCELS = 9;
const SPIN_BEFORE_CANCEL_MS = 100;
const THREADS = Math.min(2, availableParallelism());
const PEERS = ['triode', 'piscina', 'tinypool', 'workerpool', 'raw'] as const;
type PeerName = (typeof PEERS)[number] | 'ideal';

const here = fileURLToPath(import.meta.url);
const triodeModule = new URL('./workers/triode-worker.js', import.meta.url);
const taskModule = fileURLToPath(new URL('./workers/task-worker.js', import.meta.url));
const workerpoolModule = fileURLToPath(new URL('./workers/workerpool-worker.js', import.meta.url));
const rawModule = new URL('./workers/raw-worker.js', import.meta.url);

interface Measures {
  trivial: number; // calls/s
  latencyUs: number;
  burnMs: number; // 2,000 × 1 ms calls
  cancelMs: number; // cancel → settled (the peer's own way: cooperative for triode)
  killMs: number; // cancel with termination → settled
}

/** `IN_FLIGHT` loops sharing `calls` calls of `call`: the same driver for every peer. */
async function drive(calls: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < calls) await call(next++);
    }),
  );
  return performance.now() - t0;
}

async function latency(call: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < LATENCY_CALLS; i++) await call(i);
  return ((performance.now() - t0) * 1000) / LATENCY_CALLS;
}

interface PromisePeer {
  add(i: number): Promise<unknown>;
  burn(): Promise<unknown>;
  /** Starts a call that spins until aborted (by termination). */
  spin(): { abort(): void; settled: Promise<unknown> };
  close(): Promise<void>;
}

async function measurePromisePeer(peer: PromisePeer): Promise<Measures> {
  await drive(WARMUP_CALLS, (i) => peer.add(i)); // start the threads, warm the code
  const trivial = CALLS / ((await drive(CALLS, (i) => peer.add(i))) / 1000);
  const latencyUs = await latency((i) => peer.add(i));
  const burnMs = await drive(BURN_CALLS, () => peer.burn());
  const kills: number[] = [];
  for (let i = 0; i < CANCELS; i++) {
    const { abort, settled } = peer.spin();
    await new Promise((r) => setTimeout(r, SPIN_BEFORE_CANCEL_MS)); // running by then, on a replaced thread too
    const t0 = performance.now();
    abort();
    await settled.catch(() => {});
    kills.push(performance.now() - t0);
  }
  const killMs = median(kills);
  await peer.close();
  return { trivial, latencyUs, burnMs, cancelMs: killMs, killMs };
}

async function measure(name: PeerName): Promise<Measures> {
  switch (name) {
    case 'ideal': {
      const t0 = performance.now();
      for (let i = 0; i < BURN_CALLS; i++) burn(1);
      const burnMs = (performance.now() - t0) / THREADS;
      return { trivial: NaN, latencyUs: NaN, burnMs, cancelMs: NaN, killMs: NaN };
    }
    case 'triode':
      return measureTriode();
    case 'piscina': {
      const { Piscina } = await import('piscina');
      return measureTaskPool(new Piscina({ filename: taskModule, maxThreads: THREADS, minThreads: THREADS }));
    }
    case 'tinypool': {
      const { Tinypool } = await import('tinypool');
      return measureTaskPool(new Tinypool({ filename: taskModule, maxThreads: THREADS, minThreads: THREADS }));
    }
    case 'workerpool': {
      const { default: workerpool } = await import('workerpool');
      const pool = workerpool.pool(workerpoolModule, { maxWorkers: THREADS, minWorkers: THREADS, workerType: 'thread' });
      return measurePromisePeer({
        add: (i) => pool.exec('add', [i, 1]),
        burn: () => pool.exec('burn', [1]),
        spin() {
          const p = pool.exec('spin', []);
          return { abort: () => p.cancel(), settled: p };
        },
        close: async () => {
          await pool.terminate();
        },
      });
    }
    case 'raw':
      return measurePromisePeer(rawDispatcher());
  }
}

/** piscina and tinypool: one task object per call to the module's default export, aborted by an AbortSignal. */
interface TaskPool {
  run(task: { op: string; a: number; b: number }, options?: { signal?: AbortSignal }): Promise<unknown>;
  destroy(): Promise<void>;
}

function measureTaskPool(pool: TaskPool): Promise<Measures> {
  return measurePromisePeer({
    add: (i) => pool.run({ op: 'add', a: i, b: 1 }),
    burn: () => pool.run({ op: 'burn', a: 1, b: 0 }),
    spin() {
      const controller = new AbortController();
      return { abort: () => controller.abort(), settled: pool.run({ op: 'spin', a: 0, b: 0 }, { signal: controller.signal }) };
    },
    close: () => pool.destroy(),
  });
}

/** The platform's floor: postMessage to the least loaded of N workers, a Map of resolvers. */
function rawDispatcher(): PromisePeer {
  const workers = Array.from({ length: THREADS }, () => ({ worker: new Worker(rawModule), load: 0 }));
  const pending = new Map<number, { resolve: (v: unknown) => void; slot: (typeof workers)[number] }>();
  let nextId = 0;
  for (const slot of workers) {
    slot.worker.on('message', ({ id, value }: { id: number; value: unknown }) => {
      const p = pending.get(id)!;
      pending.delete(id);
      slot.load--;
      p.resolve(value);
    });
  }
  const call = (op: string, a: number, b: number) =>
    new Promise((resolve) => {
      let slot = workers[0]!;
      for (const w of workers) if (w.load < slot.load) slot = w;
      const id = nextId++;
      slot.load++;
      pending.set(id, { resolve, slot });
      slot.worker.postMessage({ id, op, a, b });
    });
  return {
    add: (i) => call('add', i, 1),
    burn: () => call('burn', 1, 0),
    spin: () => ({ abort() {}, settled: Promise.resolve() }), // (no cancellation at all: n/a)
    close: async () => {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}

async function measureTriode(): Promise<Measures> {
  const { CancelScope, WorkerPool, openNursery, run, runInWorker, sleep } = await import('triode');
  return run(async () => {
    const pool = new WorkerPool({ maxThreads: THREADS, minThreads: THREADS });
    const add = (i: number) => runInWorker(triodeModule, 'add', [i, 1], { pool });
    /** The same driver as the peers', as triode tasks. */
    const driveTasks = async (calls: number, call: (i: number) => Promise<unknown>) => {
      let next = 0;
      const t0 = performance.now();
      await openNursery(async (n) => {
        for (let w = 0; w < IN_FLIGHT; w++) {
          n.startSoon(async () => {
            while (next < calls) await call(next++);
          });
        }
      });
      return performance.now() - t0;
    };
    await driveTasks(WARMUP_CALLS, add);
    const trivial = CALLS / ((await driveTasks(CALLS, add)) / 1000);
    const latencyUs = await latency(add);
    const burnMs = await driveTasks(BURN_CALLS, () => runInWorker(triodeModule, 'burn', [1], { pool }));
    const cancelAfter = async (exportName: string, mode: 'cooperative' | 'kill') => {
      const scope = new CancelScope();
      let t0 = 0;
      await openNursery(async (n) => {
        n.startSoon(() => scope.run(() => runInWorker(triodeModule, exportName, [], { pool, cancel: mode, killAfterMs: 0 })));
        await sleep(SPIN_BEFORE_CANCEL_MS);
        t0 = performance.now();
        scope.cancel();
      });
      return performance.now() - t0;
    };
    const cancels: number[] = [];
    const kills: number[] = [];
    for (let i = 0; i < CANCELS; i++) cancels.push(await cancelAfter('spin', 'cooperative'));
    for (let i = 0; i < CANCELS; i++) kills.push(await cancelAfter('spinForever', 'kill'));
    const cancelMs = median(cancels);
    const killMs = median(kills);
    await pool.close();
    return { trivial, latencyUs, burnMs, cancelMs, killMs };
  });
}

/** Runs one peer in a fresh process and returns what it measured. */
function measureApart(name: PeerName): Promise<Measures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [here, '--peer', name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Measures) : reject(new Error(`${name} exited with ${code}`))));
  });
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!;
}

function spread(values: number[]): string {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? 'n/a' : `${sorted[0]!.toFixed(1)}–${sorted[sorted.length - 1]!.toFixed(1)}`;
}

async function main(): Promise<void> {
  const all = [...PEERS, 'ideal'] as PeerName[];
  const runs = new Map<PeerName, Measures[]>(all.map((p) => [p, []]));
  for (let r = 0; r < RUNS; r++) {
    // Interleaved: every peer once per round, in a rotated order.
    for (let k = 0; k < all.length; k++) {
      const name = all[(k + r) % all.length]!;
      runs.get(name)!.push(await measureApart(name));
    }
  }
  const med = (name: PeerName, key: keyof Measures) => median(runs.get(name)!.map((m) => m[key]));
  const row = (label: string, unit: string, key: keyof Measures, peers: readonly PeerName[]): Row => ({
    case: label,
    unit,
    results: Object.fromEntries(peers.map((p) => [p, med(p, key)])),
  });
  printTable('bench/workers: throughput', [row(`${CALLS} trivial calls, ${IN_FLIGHT} in flight`, 'calls/s', 'trivial', PEERS)], 'triode', 'higher');
  printTable('bench/workers: one call at a time', [row('one call at a time', 'µs', 'latencyUs', PEERS)], 'triode', 'lower');
  printTable(
    'bench/workers: CPU-bound calls',
    [row(`${BURN_CALLS} × 1 ms of CPU, ${IN_FLIGHT} in flight`, 'ms', 'burnMs', [...PEERS, 'ideal'])],
    'triode',
    'lower',
  );
  const cancellers = PEERS.filter((p) => p !== 'raw');
  printTable(
    'bench/workers: cancellation',
    [row('cancel → call settled (triode: cooperative)', 'ms', 'cancelMs', cancellers), row('cancel with termination → settled', 'ms', 'killMs', cancellers)],
    'triode',
    'lower',
  );
  console.log(
    `\n${THREADS} threads each; each peer measured alone in a fresh process, ${RUNS} interleaved rounds (BENCH_RUNS=n), after ${WARMUP_CALLS} warm-up calls each (BENCH_WARMUP=n).` +
      `\nSpreads (min–max): triode trivial ${spread(runs.get('triode')!.map((m) => m.trivial))} calls/s, piscina ${spread(runs.get('piscina')!.map((m) => m.trivial))},` +
      ` raw ${spread(runs.get('raw')!.map((m) => m.trivial))}; triode 1 ms calls ${spread(runs.get('triode')!.map((m) => m.burnMs))} ms, ideal ${spread(runs.get('ideal')!.map((m) => m.burnMs))}.` +
      `\n"ideal": the same 2,000 × 1 ms on one thread, divided by ${THREADS}. The raw dispatcher cannot cancel (n/a).` +
      '\npiscina/tinypool abort and workerpool cancel terminate the thread; triode cooperative cancel stops a loop that calls checkpoint().' +
        `\nCancellation: the median of ${CANCELS} cancellations in each process (the first, of a cold export, among them), each ${SPIN_BEFORE_CANCEL_MS} ms into the call.`,
  );
}

const peerArg = process.argv.indexOf('--peer');
if (peerArg > 0) {
  const result = await measure(process.argv[peerArg + 1] as PeerName);
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
} else {
  await main();
}
