// bench/fork-join: parallel compute nurseries — recursive fib and a merge sort of 4M doubles
// through nested worker calls on 2 threads, against the same work on one thread, in the same
// rounds. The target: ≥ 1.6× over one thread on 2 threads.
//   npm run bench:fork-join
import { availableParallelism } from 'node:os';
import { run, runInWorker, WorkerPool } from 'triode';
import { printTable } from './harness.js';
import { fibHere } from './workers/fork-join-worker.js';
import { sortOnOneThread } from '../examples/parallel-sort-worker.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const THREADS = Math.min(2, availableParallelism());
const FIB_N = 37;
/** Leaves of fib(28) (~2 ms each; ~230 nested calls) and of fib(24) (~0.3 ms; ~1,500 calls): coarse and fine grain. */
const FIB_CUTOFFS = [28, 24] as const;
const SORT_N = 4 << 20;
const SORT_CUTOFF = 1 << 18;
const forkJoin = new URL('./workers/fork-join-worker.js', import.meta.url);
const sortWorker = new URL('../examples/parallel-sort-worker.js', import.meta.url);

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function randomDoubles(seed: number): Float64Array {
  const data = new Float64Array(new SharedArrayBuffer(SORT_N * 8));
  let x = seed;
  for (let i = 0; i < SORT_N; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    data[i] = x / 2147483648;
  }
  return data;
}

async function main(): Promise<void> {
  const times = { fibOne: [] as number[], fibPool: FIB_CUTOFFS.map(() => [] as number[]), sortOne: [] as number[], sortPool: [] as number[] };
  const expected = fibHere(FIB_N);
  await run(async () => {
    const pool = new WorkerPool({ maxThreads: THREADS, minThreads: THREADS });
    try {
      await runInWorker(forkJoin, 'fibForkJoin', [20, 18], { pool }); // threads up, module loaded
      for (let round = 0; round < RUNS; round++) {
        let t = performance.now();
        if (fibHere(FIB_N) !== expected) throw new Error('fib');
        times.fibOne.push(performance.now() - t);
        for (const [i, cutoff] of FIB_CUTOFFS.entries()) {
          t = performance.now();
          if ((await runInWorker(forkJoin, 'fibForkJoin', [FIB_N, cutoff], { pool })) !== expected) throw new Error('fib fork-join');
          times.fibPool[i]!.push(performance.now() - t);
        }

        const a = randomDoubles(round + 1);
        const b = randomDoubles(round + 1);
        t = performance.now();
        sortOnOneThread(a);
        times.sortOne.push(performance.now() - t);
        const scratch = new Float64Array(new SharedArrayBuffer(SORT_N * 8));
        t = performance.now();
        await runInWorker(sortWorker, 'sortRange', [b, scratch, 0, SORT_N, SORT_CUTOFF], { pool });
        times.sortPool.push(performance.now() - t);
        for (let i = 0; i < SORT_N; i += 4099) if (a[i] !== b[i]) throw new Error('sort mismatch');
      }
    } finally {
      await pool.close();
    }
  });
  printTable(`bench/fork-join: nested calls on ${THREADS} threads vs one thread`, [
    ...FIB_CUTOFFS.map((cutoff, i) => ({
      case: `fib(${FIB_N}), nested calls above fib(${cutoff})`,
      unit: 'ms',
      results: { triode: median(times.fibPool[i]!), 'one thread': median(times.fibOne) },
    })),
    { case: `merge sort of ${SORT_N >> 20}M doubles, leaves of ${SORT_CUTOFF >> 10}K`, unit: 'ms', results: { triode: median(times.sortPool), 'one thread': median(times.sortOne) } },
  ]);
  const spread = (v: number[]) => `${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)} ms`;
  const fibSpreads = FIB_CUTOFFS.map((cutoff, i) => `above fib(${cutoff}) ${spread(times.fibPool[i]!)}`).join(', ');
  console.log(`spreads: fib ${fibSpreads} (one thread ${spread(times.fibOne)}); sort ${spread(times.sortPool)} (one thread ${spread(times.sortOne)})`);
}

await main();
