// bench/workers: triode's worker calls against piscina used directly, tinypool and workerpool,
// with the same functions and the same thread count, in one process.
//   npm run bench:workers
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { Tinypool } from 'tinypool';
import workerpool from 'workerpool';
import { CancelScope, WorkerPool, openNursery, run, runInWorker, sleep } from 'triode';
import { printTable, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CALLS = 20_000;
const LATENCY_CALLS = 500;
const THREADS = Math.min(2, availableParallelism());

const triodeModule = new URL('./workers/triode-worker.js', import.meta.url);
const taskModule = fileURLToPath(new URL('./workers/task-worker.js', import.meta.url));
const workerpoolModule = fileURLToPath(new URL('./workers/workerpool-worker.js', import.meta.url));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Peer {
  name: string;
  /** Runs one trivial call. */
  call(i: number): Promise<unknown>;
  /** Starts a call that spins until cancelled and returns how to cancel it and its settling promise. */
  spin?(): { cancel(): void; settled: Promise<unknown> };
  close(): Promise<void>;
}

async function measurePeer(peer: Peer): Promise<{ throughput: number; latencyUs: number; cancelMs: number }> {
  await peer.call(0); // start the threads
  const throughput: number[] = [];
  const latency: number[] = [];
  const cancel: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let t0 = performance.now();
    await Promise.all(Array.from({ length: CALLS }, (_, i) => peer.call(i)));
    throughput.push(CALLS / ((performance.now() - t0) / 1000));
    for (let i = 0; i < LATENCY_CALLS; i++) {
      t0 = performance.now();
      await peer.call(i);
      latency.push((performance.now() - t0) * 1000);
    }
    if (peer.spin !== undefined) {
      const { cancel: stop, settled } = peer.spin();
      await new Promise((r) => setTimeout(r, 20));
      t0 = performance.now();
      stop();
      await settled.catch(() => {});
      cancel.push(performance.now() - t0);
      await peer.call(0); // the pool works again (a killed thread is replaced)
    }
  }
  await peer.close();
  return { throughput: median(throughput), latencyUs: median(latency), cancelMs: cancel.length ? median(cancel) : NaN };
}

/** A triode peer: every call is a triode task calling runInWorker, all inside one run. */
async function measureTriode(mode: 'cooperative' | 'kill'): Promise<{ throughput: number; latencyUs: number; cancelMs: number }> {
  return run(async () => {
    const pool = new WorkerPool({ maxThreads: THREADS, minThreads: THREADS });
    const opts = { pool, cancel: mode, killAfterMs: 0 } as const;
    await runInWorker(triodeModule, 'add', [0, 0], opts);
    const throughput: number[] = [];
    const latency: number[] = [];
    const cancel: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      let t0 = performance.now();
      await openNursery(async (n) => {
        for (let i = 0; i < CALLS; i++) n.startSoon(() => runInWorker(triodeModule, 'add', [i, 1], opts));
      });
      throughput.push(CALLS / ((performance.now() - t0) / 1000));
      for (let i = 0; i < LATENCY_CALLS; i++) {
        t0 = performance.now();
        await runInWorker(triodeModule, 'add', [i, 1], opts);
        latency.push((performance.now() - t0) * 1000);
      }
      const scope = new CancelScope();
      await openNursery(async (n) => {
        n.startSoon(() => scope.run(() => runInWorker(triodeModule, mode === 'kill' ? 'spinForever' : 'spin', [], opts)));
        await sleep(20);
        t0 = performance.now();
        scope.cancel();
      });
      cancel.push(performance.now() - t0);
      await runInWorker(triodeModule, 'add', [0, 0], opts);
    }
    await pool.close();
    return { throughput: median(throughput), latencyUs: median(latency), cancelMs: median(cancel) };
  });
}

async function main(): Promise<void> {
  const results: Record<string, { throughput: number; latencyUs: number; cancelMs: number }> = {};
  results['triode'] = await measureTriode('cooperative');
  const kill = await measureTriode('kill');

  const piscina = new Piscina({ filename: taskModule, maxThreads: THREADS, minThreads: THREADS });
  results['piscina'] = await measurePeer({
    name: 'piscina',
    call: (i) => piscina.run({ op: 'add', a: i, b: 1 }),
    spin() {
      const controller = new AbortController();
      return { cancel: () => controller.abort(), settled: piscina.run({ op: 'spin', a: 0, b: 0 }, { signal: controller.signal }) };
    },
    close: () => piscina.destroy(),
  });

  const tinypool = new Tinypool({ filename: taskModule, maxThreads: THREADS, minThreads: THREADS });
  results['tinypool'] = await measurePeer({
    name: 'tinypool',
    call: (i) => tinypool.run({ op: 'add', a: i, b: 1 }),
    spin() {
      const controller = new AbortController();
      return { cancel: () => controller.abort(), settled: tinypool.run({ op: 'spin', a: 0, b: 0 }, { signal: controller.signal }) };
    },
    close: () => tinypool.destroy(),
  });

  const wp = workerpool.pool(workerpoolModule, { maxWorkers: THREADS, minWorkers: THREADS, workerType: 'thread' });
  results['workerpool'] = await measurePeer({
    name: 'workerpool',
    call: (i) => wp.exec('add', [i, 1]),
    spin() {
      const p = wp.exec('spin', []);
      return { cancel: () => p.cancel(), settled: p };
    },
    close: async () => { await wp.terminate(); },
  });

  const peers = Object.keys(results);
  const rows: Row[] = [
    { case: `${CALLS} trivial calls`, unit: 'calls/s', results: Object.fromEntries(peers.map((p) => [p, results[p]!.throughput])) },
  ];
  printTable('bench/workers: throughput', rows, 'triode', 'higher');
  printTable('bench/workers: latency', [
    { case: 'one call, sequential', unit: 'µs', results: Object.fromEntries(peers.map((p) => [p, results[p]!.latencyUs])) },
    {
      case: 'cancel → call settled',
      unit: 'ms',
      results: { triode: results['triode']!.cancelMs, ...Object.fromEntries(peers.slice(1).map((p) => [p, results[p]!.cancelMs])) },
    },
  ], 'triode', 'lower');
  console.log(
    `\n${THREADS} threads each. triode cancel is cooperative (checkpoint() in a loop: the thread keeps running);\n` +
      `triode kill mode (killAfterMs 0, the thread is terminated): ${kill.cancelMs.toFixed(2)} ms.\n` +
      'piscina/tinypool abort and workerpool cancel all terminate the thread.',
  );
}

await main();
