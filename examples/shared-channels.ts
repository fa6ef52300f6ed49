// Shared channels and mapInWorkers. First, a worker reads a large file (the node binary) and
// streams it to the main thread through a shared channel; the main thread hashes the chunks as
// they come, each received into the same buffer, while the ring (256 KiB) holds the worker back.
// Then mapInWorkers tests 200,000 numbers for primality on every thread, in batches.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EndOfChannel, mapInWorkers, openNursery, openSharedChannel, run, runInWorker } from 'triode';

const workerFile = new URL('./shared-worker.js', import.meta.url);
const CHUNK = 64 * 1024;

async function streamAndHash(path: string): Promise<{ bytes: number; chunks: number; digest: string }> {
  const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: 256 * 1024 });
  const hash = createHash('sha256');
  const chunk = new Uint8Array(CHUNK);
  let bytes = 0;
  let chunks = 0;
  await openNursery(async (nursery) => {
    // The worker gets its own endpoint; use() closes ours once the call is over, so the
    // receiving loop below ends with EndOfChannel when the worker is done.
    nursery.startSoon(() => tx.use(() => runInWorker(workerFile, 'streamFile', [tx, path, CHUNK])));
    await rx.use(async () => {
      for (;;) {
        let length: number;
        try {
          length = await rx.receiveInto(chunk);
        } catch (error) {
          if (error instanceof EndOfChannel) break;
          throw error;
        }
        hash.update(chunk.subarray(0, length));
        bytes += length;
        chunks++;
      }
    });
  });
  return { bytes, chunks, digest: hash.digest('hex') };
}

await run(async () => {
  const path = process.execPath;
  const streamed = await streamAndHash(path);
  const expected = createHash('sha256').update(readFileSync(path)).digest('hex');
  console.log(`streamed ${streamed.bytes} bytes of ${path} in ${streamed.chunks} chunks`);
  console.log(`sha256 of the stream matches the file: ${streamed.digest === expected}`);

  function* numbers(): Generator<number> {
    for (let n = 0; n < 200_000; n++) yield n;
  }
  let primes = 0;
  for await (const prime of mapInWorkers(numbers(), workerFile, 'isPrime', { ordered: false, batchSize: 512 })) {
    if (prime) primes++;
  }
  console.log(`primes below 200000: ${primes}`);
});
