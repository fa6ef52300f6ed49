// examples/remote: the same worker calls as on one machine, through Redis to triode-worker
// processes. Start Redis and two workers first (see README.md here), then:
//   REDIS_URL=redis://127.0.0.1:6379 node .test-build/examples/remote/client.js
import { mapInWorkers, moveOnAfter, openNursery, run, workerModule } from 'triode';
import { openRemotePool } from 'triode/remote';

const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const queue = process.env.QUEUE ?? 'triode-example';
const jobsModule = new URL('./jobs.js', import.meta.url);

await run(() =>
  openRemotePool({ redis, queue }, async (pool) => {
    const jobs = workerModule<typeof import('./jobs.js')>(jobsModule, { pool });

    // 8 calls at once, spread over the workers.
    const seen = new Set<string>();
    await openNursery(async (nursery) => {
      for (let i = 0; i < 8; i++) nursery.startSoon(async () => void seen.add(await jobs.whoAmI()));
    });
    console.log(`8 calls served by: ${[...seen].join(', ')}`);
    console.log(`primes below 200,000: ${await jobs.countPrimes(200_000)}`);

    // mapInWorkers: one remote call per batch of 64 items.
    let sum = 0;
    for await (const square of mapInWorkers<number, number>(Array.from({ length: 1000 }, (_, i) => i), jobsModule, 'square', { pool })) sum += square;
    console.log(`sum of the squares below 1,000: ${sum}`);

    // A deadline reaches the remote thread: the call stops at its next checkpoint.
    const started = performance.now();
    const result = await moveOnAfter(200, () => jobs.countPrimes(1e9));
    console.log(`a call cut off by a 200 ms deadline: ${result === undefined ? 'cancelled' : result}, after ${(performance.now() - started).toFixed(0)} ms`);
  }),
);
