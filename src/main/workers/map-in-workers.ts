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
import { packNumbers, unpackNumbers, type MapJob, type MapResult } from '../../shared/map-wire.js';
import { Cancelled, ClosedResourceError, EndOfChannel } from '../../shared/errors.js';
import { CancelScope } from '../core/cancel-scope.js';
import { currentContext, type Context } from '../core/context.js';
import { abandonOnCancel } from '../core/abort-signal.js';
import { checkInteger, describe, checkOptions } from '../core/validate.js';
import { closeWire, openSharedChannel } from '../channels/shared-channel.js';
import { defaultWorkerPool } from './pool.js';
import type { JobResult, JobSubmitter } from './job-client.js';
import { moduleUrl } from './run-in-worker.js';
import { BatchSizer } from './batch-sizer.js';
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
  /**
   * Items per batch, the unit a worker loop takes at a time (default: measured as the map runs —
   * about 1 ms of a thread's work, at most `maxInFlight / (4 × threads)`; through a RemotePool, 64).
   */
  batchSize?: number;
}

/** Items per call through a RemotePool, unless `batchSize` says otherwise. */
const REMOTE_BATCH_SIZE = 64;

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
export function mapInWorkers<T, R = unknown>(
  source: Iterable<T> | AsyncIterable<T>,
  module: string | URL,
  exportName: string,
  options: MapInWorkersOptions = {},
): MapInWorkers<R> {
  return new MapInWorkers<R>(mapBatches<T, R>(source, module, exportName, options));
}

/**
 * What `mapInWorkers` returns: an async generator of the results, one at a time — and
 * `batches()`, the same results an array at a time as the workers deliver them (one await per
 * batch instead of one per item, for items so small that the await is most of their cost).
 *
 * Results already delivered are handed out without waiting for anything; each step is still a
 * checkpoint: a cancelled consumer's next step stops the workers and raises `Cancelled`.
 */
export class MapInWorkers<R> implements AsyncGenerator<R, void, undefined> {
  #batch: readonly R[] = [];
  #at = 0;
  #ctx: Context | undefined;
  #batchesTaken = false;

  readonly #engine: AsyncGenerator<readonly R[], void, undefined>;

  /** @internal */
  constructor(engine: AsyncGenerator<readonly R[], void, undefined>) {
    this.#engine = engine;
  }

  next(): Promise<IteratorResult<R, void>> {
    if (this.#at < this.#batch.length) {
      const ctx = this.#ctx;
      if (ctx !== undefined && ctx.status.effectivelyCancelled) return this.#stopCancelled(ctx);
      return Promise.resolve({ value: this.#batch[this.#at++]!, done: false });
    }
    return this.#nextBatch();
  }

  async #nextBatch(): Promise<IteratorResult<R, void>> {
    for (;;) {
      this.#ctx = currentContext('mapInWorkers');
      const next = await this.#engine.next();
      if (next.done === true) return { value: undefined, done: true };
      this.#batch = next.value;
      this.#at = 0;
      if (this.#batch.length > 0) return { value: this.#batch[this.#at++]!, done: false };
    }
  }

  /** Cancelled between two results already delivered: stop the workers first, then raise. */
  async #stopCancelled(ctx: Context): Promise<IteratorResult<R, void>> {
    this.#batch = [];
    this.#at = 0;
    await this.#engine.return();
    throw ctx.status.makeCancelled();
  }

  /**
   * The results as arrays, as the workers deliver them (in source order unless `ordered:
   * false`). Iterate either this or the results themselves, not both.
   *
   * ```ts
   * for await (const digests of mapInWorkers(paths, hashModule, 'sha256File').batches()) total += digests.length;
   * ```
   */
  batches(): AsyncGenerator<readonly R[], void, undefined> {
    if (this.#batchesTaken || this.#at > 0) throw new Error('mapInWorkers: batches() is for a map not iterated yet');
    this.#batchesTaken = true;
    return this.#engine;
  }

  return(): Promise<IteratorResult<R, void>> {
    this.#batch = [];
    this.#at = 0;
    return this.#engine.return() as Promise<IteratorResult<R, void>>;
  }

  throw(error: unknown): Promise<IteratorResult<R, void>> {
    this.#batch = [];
    this.#at = 0;
    return this.#engine.throw(error) as Promise<IteratorResult<R, void>>;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/** The map itself: yields each batch of results as a whole (mapInWorkers hands them out one by one). */
async function* mapBatches<T, R>(
  source: Iterable<T> | AsyncIterable<T>,
  module: string | URL,
  exportName: string,
  options: MapInWorkersOptions,
): AsyncGenerator<readonly R[], void, undefined> {
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
  if (options.batchSize !== undefined) checkInteger('mapInWorkers', 'batchSize', options.batchSize, 1);
  checkInteger('mapInWorkers', 'concurrency', concurrency, 1);
  checkInteger('mapInWorkers', 'maxInFlight', maxInFlight, 1);
  checkInteger('mapInWorkers', 'capacityBytes', capacityBytes, 16);

  const syncSource = !(Symbol.asyncIterator in source);
  const iterator: Iterator<T> | AsyncIterator<T> = syncSource
    ? (source as Iterable<T>)[Symbol.iterator]()
    : (source as AsyncIterable<T>)[Symbol.asyncIterator]();
  if (!pool.sharesMemory) {
    const batchSize = options.batchSize ?? REMOTE_BATCH_SIZE;
    yield* mapByCalls<T, R>(pool, iterator, moduleUrl(module, 'mapInWorkers'), exportName, { concurrency, ordered, batchSize, locals, syncSource });
    return;
  }
  const [inTx, inRx] = openSharedChannel<MapJob>({ capacityBytes });
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
    const held: MapJob[] = []; // batches taken from the source, not in the input ring yet
    let heldItems = 0;
    const reorder = new Map<number, unknown[]>();
    const sizer = options.batchSize === undefined ? new BatchSizer(loops, Math.max(1, Math.floor(maxInFlight / (4 * loops)))) : undefined;
    for (;;) {
      // Top up the input ring without waiting on it: once half of maxInFlight has come back,
      // batches up to maxInFlight, written together (one lock and one wake-up of the loops for
      // all of them, not one per batch).
      const topUp = inFlight + heldItems <= maxInFlight / 2;
      while (topUp && inFlight + heldItems < maxInFlight && !sourceDone) {
        // A synchronous source is read without an await per item.
        const batchSize = sizer?.size ?? options.batchSize!;
        const items = syncSource ? takeBatchSync(iterator as Iterator<T>, batchSize) : await takeBatch(iterator, batchSize);
        if (items.length < batchSize) sourceDone = true;
        if (items.length === 0) break;
        const batch = nextBatch++;
        held.push(packNumbers(batch, items) ?? [batch, items]);
        heldItems += items.length;
      }
      if (held.length > 0) {
        const written = inTx.sendManyNowait(held);
        for (const job of held.splice(0, written)) {
          const count = job instanceof Float64Array ? job.length - 1 : job[1].length;
          inFlight += count;
          heldItems -= count;
        }
      }
      if (sourceDone && held.length === 0) {
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
      let batch: number;
      let values: unknown[];
      if (result instanceof Float64Array) {
        batch = result[0]!;
        values = unpackNumbers(result);
      } else {
        if (result[1] === undefined) throw errorFromWire(result[2], `at ${exportName} (in a worker thread, mapInWorkers)`);
        batch = result[0];
        values = result[1];
      }
      sizer?.delivered(values.length);
      if (!ordered) {
        inFlight -= values.length;
        yield values as R[];
        continue;
      }
      reorder.set(batch, values);
      for (let values = reorder.get(nextToYield); values !== undefined; values = reorder.get(nextToYield)) {
        reorder.delete(nextToYield);
        nextToYield++;
        inFlight -= values.length;
        yield values as R[];
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

/** The next `batchSize` items of a synchronous source, fewer only when it ended. */
function takeBatchSync<T>(iterator: Iterator<T>, batchSize: number): T[] {
  const items: T[] = [];
  while (items.length < batchSize) {
    const next = iterator.next();
    if (next.done === true) break;
    items.push(next.value);
  }
  return items;
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
  { concurrency, ordered, batchSize, locals, syncSource }: { concurrency: number; ordered: boolean; batchSize: number; locals: Array<[string, unknown]> | undefined; syncSource: boolean },
): AsyncGenerator<readonly R[], void, undefined> {
  const inFlight = new Map<number, { job: WorkerJobHandle; done: Promise<[number, JobResult]> }>();
  const reorder = new Map<number, unknown[]>();
  let nextBatch = 0;
  let nextToYield = 0;
  let sourceDone = false;
  try {
    for (;;) {
      while (inFlight.size < concurrency && !sourceDone) {
        const items = syncSource ? takeBatchSync(iterator as Iterator<T>, batchSize) : await takeBatch(iterator, batchSize);
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
        yield values as R[];
        continue;
      }
      reorder.set(batch, values);
      for (let ready = reorder.get(nextToYield); ready !== undefined; ready = reorder.get(nextToYield)) {
        reorder.delete(nextToYield);
        nextToYield++;
        yield ready as R[];
      }
    }
  } finally {
    for (const { job } of inFlight.values()) job.cancel();
    // Wait for every call to let go, even if the consumer's own scope is cancelled.
    await new CancelScope({ shield: true }).run(() => abandonOnCancel(Promise.all([...inFlight.values()].map((entry) => entry.done))));
    await (iterator as AsyncIterator<T>).return?.();
  }
}
