// The peer's worker side for bench/remote: BullMQ used directly, as its docs show — a Worker
// whose processor calls the same export the triode-worker runs (here on the process's main
// thread, BullMQ's default), `concurrency` jobs at a time.
//   node bullmq-worker.js <redis url> <queue> <concurrency>
import { Worker } from 'bullmq';
import * as exports from '../../test/fixtures/remote-module.js';

const [redis, queue, concurrency] = process.argv.slice(2);
const table = exports as unknown as Record<string, (...args: unknown[]) => unknown>;
const worker = new Worker(queue!, async (job) => table[job.data.exportName as string]!(...(job.data.args as unknown[])), {
  connection: { url: redis! },
  concurrency: Number(concurrency),
});
await worker.waitUntilReady();
process.stdout.write('serving\n');
const stop = async () => {
  await worker.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
