/**
 * `mapInWorkers`: apply a worker export to every item of an (async) iterable on N threads, fed
 * through shared channels instead of one worker call per item.
 *
 * N long-lived worker calls each run a loop (src/worker/map-loop.ts) that takes items from an
 * input channel and puts results on an output channel. The async generator below runs in the
 * consumer's task: it tops up the input ring from the source without ever blocking on it, then
 * waits for a result; so memory stays bounded (at most `maxInFlight` items between source and
 * consumer, plus what the rings hold) whatever the speed of either side. A failing item ends the
 * map with that item's error; a `break` out of the consumer's `for await` (or a cancellation)
 * cancels the worker calls and waits for them before the loop exits — no thread keeps working
 * for a consumer that left.
 */
import { errorFromWire } from '../../shared/error-wire.js';
import { Cancelled, ClosedResourceError, EndOfChannel, WouldBlock } from '../../shared/errors.js';
import { CancelScope } from '../core/cancel-scope.js';
import { currentContext } from '../core/context.js';
import { abandonOnCancel } from '../core/abort-signal.js';
import { checkInteger, describe, checkOptions } from '../core/validate.js';
import { closeWire, openSharedChannel } from '../channels/shared-channel.js';
import { defaultWorkerPool } from './pool.js';
import type { JobResult, JobSubmitter } from './job-client.js';
import { moduleUrl } from './run-in-worker.js';
import { crossThreadValuesFor } from '../core/task-local.js';
import type { WorkerJobHandle } from './pool.js';

export interface MapInWorkersOptions {
  /** The pool: a WorkerPool, or a RemotePool (one call per batch there) (default: the default pool). */
  pool?: JobSubmitter;
  /** Worker calls (threads) to use (default, and at most: the pool's thread count; more could not run in parallel). */
  concurrency?: number;
  /** Yield results in source order (default true); false yields them as they finish. */
  ordered?: boolean;
  /** Most items between the source and the consumer at once (default 1024 per thread). */
  maxInFlight?: number;
  /** Size of each of the two rings in bytes (default 1 MiB). */
  capacityBytes?: number;
  /** Items per frame through the rings (default 64; 1 for large items). */
  batchSize?: number;
}

type MapResult = [batch: number, values: unknown[]] | [batch: number, values: undefined, error: unknown];

const mapLoopUrl = new URL('./map-loop.js', import.meta.url).href;
const mapBatchUrl = new URL('./map-batch.js', import.meta.url).href;

/**
 * Applies `module`'s export `exportName` to each item of `source` in worker threads and yields
 * the results (in source order unless `ordered: false`). Iterate it inside a run; every step is
 * a checkpoint. An item that throws ends the map with its error; leaving the loop early cancels
 * the workers.
 *
 * ```ts
 * for await (const digest of mapInWorkers(paths, new URL('./hash.js', import.meta.url), 'sha256File')) {
 *   console.log(digest);
 * }
 * ```
 */
export async function* mapInWorkers<T, R = unknown>(
  source: Iterable<T> | AsyncIterable<T>,
  module: string | URL,
  exportName: string,
  options: MapInWorkersOptions = {},
): AsyncGenerator<R, void, undefined> {
  options = checkOptions('mapInWorkers', options);
  if (source === null || typeof source !== 'object' || !(Symbol.asyncIterator in source || Symbol.iterator in source)) {
    throw new TypeError(`mapInWorkers: source must be an iterable or async iterable, got ${describe(source)}`);
  }
  if (typeof exportName !== 'string' || exportName === '') {
    throw new TypeError(`mapInWorkers: exportName must be a non-empty string, got ${describe(exportName)}`);
  }
  currentContext('mapInWorkers');
  // The consumer's cross-thread TaskLocal values go to every loop (the export sees them).
  const locals = crossThreadValuesFor('mapInWorkers');
  const pool = options.pool ?? defaultWorkerPool();
  const maxThreads = pool.maxThreads;
  const concurrency = options.concurrency ?? maxThreads;
  const ordered = options.ordered ?? true;
  const maxInFlight = options.maxInFlight ?? 1024 * concurrency;
  const capacityBytes = options.capacityBytes ?? 1 << 20;
  const batchSize = options.batchSize ?? 64;
  checkInteger('mapInWorkers', 'batchSize', batchSize, 1);
  checkInteger('mapInWorkers', 'concurrency', concurrency, 1);
  checkInteger('mapInWorkers', 'maxInFlight', maxInFlight, 1);
  checkInteger('mapInWorkers', 'capacityBytes', capacityBytes, 16);

  const iterator: Iterator<T> | AsyncIterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  if (!pool.sharesMemory) {
    yield* mapByCalls<T, R>(pool, iterator, moduleUrl(module, 'mapInWorkers'), exportName, { concurrency, ordered, batchSize, locals });
    return;
  }
  const [inTx, inRx] = openSharedChannel<[number, T[]]>({ capacityBytes });
  const [outTx, outRx] = openSharedChannel<MapResult>({ capacityBytes });
  const url = moduleUrl(module, 'mapInWorkers');

  // N long-lived jobs, started without a task each (this generator runs in the consumer's task
  // and may wait in one place only): it holds their handles and, in `finally`, cancels them and
  // waits until every one has settled, so nothing outlives the loop. More loops than threads
  // could not run in parallel, so there are at most as many as the pool has threads.
  const jobs: WorkerJobHandle[] = [];
  let jobError: unknown;
  const loops = Math.min(concurrency, maxThreads);
  try {
    try {
      for (let w = 0; w < loops; w++) {
        const borrower = {};
        await pool.limiter.acquireOnBehalfOf(borrower);
        const wires = [inRx.toWire(), outTx.toWire()];
        let job: WorkerJobHandle;
        try {
          job = pool.submit({
            url: mapLoopUrl,
            exportName: 'mapLoop',
            args: [wires[0], wires[1], url, exportName],
            onSettled: () => {
              for (const wire of wires) closeWire(wire);
            },
            locals,
          });
        } catch (error) {
          pool.limiter.releaseOnBehalfOf(borrower);
          throw error;
        }
        jobs.push(job);
        void job.settled.then((outcome) => {
          pool.limiter.releaseOnBehalfOf(borrower);
          if ('error' in outcome && !(outcome.error instanceof Cancelled) && jobError === undefined) {
            jobError = outcome.error;
            outRx.close(); // wake the loop below: it reports jobError
          }
        });
      }
    } finally {
      // The jobs hold their own endpoints now.
      inRx.close();
      outTx.close();
    }
    // The consumer's side of the map, written inline (not a nested generator behind yield*: that
    // would cost a second generator step and promise per item): feed the input ring from the
    // source, yield the results.
    let nextBatch = 0; // number of the next batch to send
    let nextToYield = 0; // ordered mode: number of the next batch to yield
    let inFlight = 0; // items sent and not yet yielded
    let sourceDone = false;
    let held: [number, T[]] | undefined; // a batch that did not fit in the input ring yet
    const reorder = new Map<number, unknown[]>();
    for (;;) {
      // Top up the input ring without waiting on it.
      while (inFlight < maxInFlight && (held !== undefined || !sourceDone)) {
        if (held === undefined) {
          const items = await takeBatch(iterator, batchSize);
          if (items.length < batchSize) sourceDone = true;
          if (items.length === 0) break;
          held = [nextBatch++, items];
        }
        try {
          inTx.sendNowait(held);
        } catch (error) {
          if (error instanceof WouldBlock) break;
          throw error;
        }
        inFlight += held[1].length;
        held = undefined;
      }
      if (sourceDone && held === undefined) {
        inTx.close();
        if (inFlight === 0) return;
      }

      let result: MapResult;
      try {
        result = await outRx.receive();
      } catch (error) {
        if (error instanceof EndOfChannel || error instanceof ClosedResourceError) {
          // The loops ended early: one failed (its error may still be settling) — say why.
          await abandonOnCancel(Promise.all(jobs.map((job) => job.settled)));
          throw jobError ?? new Error('mapInWorkers: the worker loops ended before every item was processed');
        }
        throw error;
      }
      if (result[1] === undefined) throw errorFromWire(result[2], `at ${exportName} (in a worker thread, mapInWorkers)`);
      if (!ordered) {
        for (const value of result[1]) {
          inFlight--;
          yield value as R;
        }
        continue;
      }
      reorder.set(result[0], result[1]);
      for (let values = reorder.get(nextToYield); values !== undefined; values = reorder.get(nextToYield)) {
        reorder.delete(nextToYield);
        nextToYield++;
        for (const value of values) {
          inFlight--;
          yield value as R;
        }
      }
    }
  } finally {
    inTx.close();
    for (const job of jobs) job.cancel();
    // Wait for every thread to let go, even if the consumer's own scope is cancelled.
    await new CancelScope({ shield: true }).run(() => abandonOnCancel(Promise.all(jobs.map((job) => job.settled))));
    outRx.close();
    await (iterator as AsyncIterator<T>).return?.();
  }
}

/** The next `batchSize` items of the source, fewer only when it ended. */
async function takeBatch<T>(iterator: Iterator<T> | AsyncIterator<T>, batchSize: number): Promise<T[]> {
  const items: T[] = [];
  while (items.length < batchSize) {
    const next = await iterator.next();
    if (next.done === true) break;
    items.push(next.value);
  }
  return items;
}

/**
 * mapInWorkers on a pool that shares no memory with this process (a RemotePool), where no shared
 * channel can reach: each batch of items is one call (src/worker/map-batch.ts), at most
 * `concurrency` of them in flight. Same contract: results in source order unless `ordered` is
 * false, the first failing item ends the map with its error, and leaving the loop early (or a
 * cancellation) cancels the calls in flight and waits for them.
 */
async function* mapByCalls<T, R>(
  pool: JobSubmitter,
  iterator: Iterator<T> | AsyncIterator<T>,
  url: string,
  exportName: string,
  { concurrency, ordered, batchSize, locals }: { concurrency: number; ordered: boolean; batchSize: number; locals: Array<[string, unknown]> | undefined },
): AsyncGenerator<R, void, undefined> {
  const inFlight = new Map<number, { job: WorkerJobHandle; done: Promise<[number, JobResult]> }>();
  const reorder = new Map<number, unknown[]>();
  let nextBatch = 0;
  let nextToYield = 0;
  let sourceDone = false;
  try {
    for (;;) {
      while (inFlight.size < concurrency && !sourceDone) {
        const items = await takeBatch(iterator, batchSize);
        if (items.length < batchSize) sourceDone = true;
        if (items.length === 0) break;
        const borrower = {};
        if (!pool.limiter.tryAcquireOnBehalfOf(borrower)) await pool.limiter.acquireOnBehalfOf(borrower);
        let job: WorkerJobHandle;
        try {
          job = pool.submit({ url: mapBatchUrl, exportName: 'mapBatch', args: [url, exportName, items], locals });
        } catch (error) {
          pool.limiter.releaseOnBehalfOf(borrower);
          throw error;
        }
        const batch = nextBatch++;
        const done = job.settled.then((result): [number, JobResult] => {
          pool.limiter.releaseOnBehalfOf(borrower);
          return [batch, result];
        });
        inFlight.set(batch, { job, done });
      }
      if (inFlight.size === 0) return;
      const [batch, result] = await abandonOnCancel(Promise.race([...inFlight.values()].map((entry) => entry.done)));
      inFlight.delete(batch);
      if ('error' in result) throw result.error;
      const values = result.value;
      if (!Array.isArray(values)) throw new TypeError(`mapInWorkers: a batch of ${exportName} came back as ${describe(values)}, not an array`);
      if (!ordered) {
        for (const value of values) yield value as R;
        continue;
      }
      reorder.set(batch, values);
      for (let ready = reorder.get(nextToYield); ready !== undefined; ready = reorder.get(nextToYield)) {
        reorder.delete(nextToYield);
        nextToYield++;
        for (const value of ready) yield value as R;
      }
    }
  } finally {
    for (const { job } of inFlight.values()) job.cancel();
    // Wait for every call to let go, even if the consumer's own scope is cancelled.
    await new CancelScope({ shield: true }).run(() => abandonOnCancel(Promise.all([...inFlight.values()].map((entry) => entry.done))));
    await (iterator as AsyncIterator<T>).return?.();
  }
}
