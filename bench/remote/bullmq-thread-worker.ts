// A third peer for bench/remote, to show where triode's cost goes: BullMQ used directly, but its
// processor hands each job to a thread of a triode WorkerPool (as triode-worker does), instead of
// running it on the process's main thread.
//   node bullmq-thread-worker.js <redis url> <queue> <concurrency> <threads>
import { Worker } from 'bullmq';
import { WorkerPool } from 'triode';

const [redis, queue, concurrency, threads] = process.argv.slice(2);
const url = new URL('../../test/fixtures/remote-module.js', import.meta.url).href;
const pool = new WorkerPool({ maxThreads: Number(threads) });
const worker = new Worker(
  queue!,
  async (job) => {
    const borrower = {};
    if (!pool.limiter.tryAcquireOnBehalfOf(borrower)) throw new Error('no free job slot');
    try {
      const result = await pool.submit({ url, exportName: job.data.exportName as string, args: job.data.args as unknown[] }).settled;
      if ('error' in result) throw result.error;
      return result.value;
    } finally {
      pool.limiter.releaseOnBehalfOf(borrower);
    }
  },
  { connection: { url: redis! }, concurrency: Number(concurrency) },
);
await worker.waitUntilReady();
process.stdout.write('serving\n');
const stop = async () => {
  await worker.close();
  await pool.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
