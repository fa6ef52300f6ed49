// A fork-join merge sort across worker threads: each call sorts its half through two nested calls
// (examples/parallel-sort-worker.ts), and the same sort on one thread, for comparison.
//   node .test-build/examples/parallel-sort.js [count]
import { availableParallelism } from 'node:os';
import { openWorkerPool, run, runInWorker } from 'triode';

const count = Number(process.argv[2] ?? 4_000_000);
const worker = new URL('./parallel-sort-worker.js', import.meta.url);

function randomShared(n: number): Float64Array {
  const data = new Float64Array(new SharedArrayBuffer(n * 8));
  for (let i = 0; i < n; i++) data[i] = Math.random();
  return data;
}

function isSorted(data: Float64Array): boolean {
  for (let i = 1; i < data.length; i++) if (data[i - 1]! > data[i]!) return false;
  return true;
}

await run(() =>
  openWorkerPool({ maxThreads: Math.min(2, availableParallelism()) }, async (pool) => {
    const cutoff = Math.max(1024, Math.ceil(count / 8));
    // Warm both threads and both modules first, so neither measurement pays for starting them.
    await runInWorker(worker, 'sortRange', [randomShared(4096), new Float64Array(new SharedArrayBuffer(4096 * 8)), 0, 4096, 1024], { pool });

    const one = randomShared(count);
    let t0 = performance.now();
    await runInWorker(worker, 'sortOnOneThread', [one], { pool });
    const oneMs = performance.now() - t0;

    const data = randomShared(count);
    const scratch = new Float64Array(new SharedArrayBuffer(count * 8));
    t0 = performance.now();
    await runInWorker(worker, 'sortRange', [data, scratch, 0, count, cutoff], { pool });
    const forkJoinMs = performance.now() - t0;

    console.log(`sorted ${count} numbers: one thread ${oneMs.toFixed(0)} ms, fork-join on ${pool.maxThreads} threads ${forkJoinMs.toFixed(0)} ms`);
    console.log(`sorted correctly: ${isSorted(one) && isSorted(data)}`);
    console.log(`speed-up: ${(oneMs / forkJoinMs).toFixed(2)}x`);
  }),
);
