/**
 * WorkerPool: threads owned by piscina (start, replacement after a crash, idle shutdown,
 * resource limits), with a triode CapacityLimiter in front of it.
 *
 * Every call first takes a token from the pool's limiter (two per thread: one running, one
 * ready next), and only then is handed to piscina — so piscina's own queue stays short, and a
 * call queued beyond it is an ordinary triode wait (cancelling it is loss-free and the job never
 * starts).
 *
 * piscina unrefs idle threads, so a pool that has nothing running never keeps the process alive;
 * the default pool relies on that and is never closed.
 */
import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ClosedResourceError } from '../../shared/errors.js';
import { CancelWords } from '../../shared/worker-call.js';
import { checkFunction, checkInteger, describe } from '../core/validate.js';
import { CapacityLimiter } from '../sync/capacity-limiter.js';

export interface WorkerPoolOptions {
  /** Most threads at once (default: `os.availableParallelism()`). */
  maxThreads?: number;
  /** Threads kept even when idle (default 0). */
  minThreads?: number;
  /** An idle thread above `minThreads` exits after this many ms (default 1000). */
  idleTimeoutMs?: number;
  /** V8 limits for each thread; a thread that exceeds them dies and its call gets BrokenWorkerError. */
  resourceLimits?: ResourceLimits;
}

export interface WorkerPoolStatistics {
  maxThreads: number;
  threads: number;
  idleThreads: number;
  runningCalls: number;
  queuedCalls: number;
  completedCalls: number;
}

/**
 * Jobs in flight per thread: one running and one waiting in piscina's queue, so a thread that
 * finishes a job starts the next without a round trip to the main thread. The waiting one can
 * still be cancelled at once (it is skipped; see shared/worker-call.ts).
 */
const JOBS_PER_THREAD = 2;

/** Where the worker entry is, next to this module in `dist/` (named by path, never imported). */
const entryUrl = new URL('./worker-entry.js', import.meta.url).href;

/**
 * A pool of worker threads for `runInWorker` / `workerModule`.
 *
 * ```ts
 * await openWorkerPool({ maxThreads: 4 }, async (pool) => {
 *   const digest = await runInWorker(hashModule, 'sha256', [path], { pool });
 * });
 * ```
 */
export class WorkerPool {
  /** @internal */ readonly piscina: Piscina;
  /** @internal queued calls wait here: one token per thread */ readonly limiter: CapacityLimiter;
  /** @internal cancel words for this pool's calls */ readonly cancelWords = new CancelWords();
  private closed = false;
  private completed = 0;

  constructor(options: WorkerPoolOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`WorkerPool: options must be an object, got ${describe(options)}`);
    }
    const maxThreads = checkInteger('WorkerPool', 'maxThreads', options.maxThreads ?? availableParallelism(), 1);
    const minThreads = checkInteger('WorkerPool', 'minThreads', options.minThreads ?? 0, 0);
    if (minThreads > maxThreads) throw new RangeError('WorkerPool: minThreads must not exceed maxThreads');
    const idleTimeout = options.idleTimeoutMs ?? 1000;
    if (typeof idleTimeout !== 'number' || Number.isNaN(idleTimeout) || idleTimeout < 0) {
      throw new RangeError(`WorkerPool: idleTimeoutMs must be a non-negative number, got ${describe(idleTimeout)}`);
    }
    this.piscina = new Piscina({
      filename: entryUrl,
      workerData: { cancelWords: this.cancelWords.block },
      maxThreads,
      minThreads,
      idleTimeout,
      resourceLimits: options.resourceLimits,
      // Our limiter is the queue; piscina's holds at most one job per thread.
      maxQueue: 'auto',
      concurrentTasksPerWorker: 1,
    });
    this.limiter = new CapacityLimiter(maxThreads * JOBS_PER_THREAD);
  }

  /** @internal */
  checkOpen(): void {
    if (this.closed) throw new ClosedResourceError('this worker pool was closed');
  }

  /** @internal */
  callFinished(): void {
    this.completed++;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops every thread. Calls still running fail with BrokenWorkerError. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  statistics(): WorkerPoolStatistics {
    const limiter = this.limiter.statistics();
    return {
      maxThreads: this.piscina.maxThreads,
      threads: this.piscina.threads.length,
      idleThreads: this.piscina.idleThreads,
      runningCalls: limiter.borrowedTokens,
      queuedCalls: limiter.tasksWaiting,
      completedCalls: this.completed,
    };
  }
}

/**
 * Opens a pool, runs `fn(pool)`, and closes the pool when `fn` ends (by then every call made in
 * it has finished, since calls are awaited inside the block).
 */
export async function openWorkerPool<T>(options: WorkerPoolOptions, fn: (pool: WorkerPool) => Promise<T> | T): Promise<T> {
  checkFunction('openWorkerPool', 'fn', fn);
  const pool = new WorkerPool(options);
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

const DEFAULT_POOL = Symbol.for('triode.defaultWorkerPool');
type GlobalWithPool = typeof globalThis & { [DEFAULT_POOL]?: WorkerPool };

/** The pool that serves calls naming none: one per process, sized to the machine, never closed. */
export function defaultWorkerPool(): WorkerPool {
  const g = globalThis as GlobalWithPool;
  return (g[DEFAULT_POOL] ??= new WorkerPool());
}
