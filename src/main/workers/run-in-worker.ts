/**
 * `runInWorker` and `workerModule`: call a module's export on a pool thread, under the caller's
 * cancel scopes.
 *
 * A call is a checkpoint. It first waits for a slot in the pool's CapacityLimiter (two per
 * thread, so each thread has its next job at hand when it finishes one); cancelling it there is
 * an ordinary cancelled wait. A job handed to the pool but not started yet is cancelled at once
 * too: the worker skips it (see the cancel word in shared/worker-call.ts), so it never starts.
 * Once running, cancellation follows the call's `cancel` mode:
 *
 * - `'cooperative'` (default): set the call's cancel word and keep waiting for the worker. Code
 *   that calls `checkpoint()` / `sleepSync()` from `triode/worker`, and async exports (whose
 *   root scope is cancelled), stop at once and the call rejects with `Cancelled`; code that
 *   never checks runs to the end and its result is returned (as in Trio: the work was done, so
 *   it is not thrown away); the caller's next checkpoint then raises `Cancelled`.
 *   The default because it is the only mode that never loses work or leaves state half-written.
 * - `'kill'`: set the word, and terminate the thread if it has not finished after `killAfterMs`
 *   (default 100 ms); the call rejects with `Cancelled`, and piscina starts a fresh thread.
 * - `'abandon'`: set the word and raise `Cancelled` at once; the thread finishes on its own
 *   and its limiter slot is freed then.
 */
import { pathToFileURL } from 'node:url';
import type { TransferListItem } from 'node:worker_threads';
import { resolve as resolvePath } from 'node:path';
import { BrokenWorkerError, Cancelled, soleError } from '../../shared/errors.js';
import { errorFromWire } from '../../shared/error-wire.js';
import { setCancelled, type WorkerJob, type WorkerJobResult } from '../../shared/worker-call.js';
import { cancelPoint } from '../core/checkpoint.js';
import { currentContext, type Context } from '../core/context.js';
import { openNurseryIn } from '../core/nursery.js';
import { isWorkerCallback, prepareCallbacks } from './callbacks.js';
import { closeWire, isSharedEndpoint, type SharedChannelWire } from '../channels/shared-channel.js';
import { Abort, blockTask, type Wait } from '../core/traps.js';
import { describe } from '../core/validate.js';
import type { CapacityLimiter } from '../sync/capacity-limiter.js';
import { whyUncloneable } from '../../shared/cloneable.js';
import { defaultWorkerPool, WorkerPool } from './pool.js';

export type CancelMode = 'cooperative' | 'kill' | 'abandon';

export interface WorkerCallOptions {
  /** The pool to run on (default: the process-wide default pool). */
  pool?: WorkerPool;
  /** Where the call queues for a thread (default: the pool's own limiter, one token per thread). */
  limiter?: CapacityLimiter;
  /** What cancelling a running call does (default 'cooperative'; see above). */
  cancel?: CancelMode;
  /** For `cancel: 'kill'`: ms to wait for the worker to stop by itself before terminating it (default 100). */
  killAfterMs?: number;
  /** Objects to transfer (not copy) to the worker: ArrayBuffers, MessagePorts. */
  transfer?: TransferListItem[];
}

const DEFAULT_KILL_AFTER_MS = 100;

/** @internal the file: URL a worker loads for `module` (a URL, or a path relative to the working directory). */
export function moduleUrl(module: string | URL, where = 'runInWorker'): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== 'string' || module === '') {
    throw new TypeError(`${where}: module must be a path or a URL, got ${describe(module)}`);
  }
  return /^(file|data|node):/.test(module) ? module : pathToFileURL(resolvePath(module)).href;
}

function checkOptions(options: WorkerCallOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`runInWorker: options must be an object, got ${describe(options)}`);
  }
  const { pool, cancel, killAfterMs, transfer } = options;
  if (pool !== undefined && !(pool instanceof WorkerPool)) {
    throw new TypeError(`runInWorker: options.pool must be a WorkerPool, got ${describe(pool)}`);
  }
  if (cancel !== undefined && cancel !== 'cooperative' && cancel !== 'kill' && cancel !== 'abandon') {
    throw new TypeError(`runInWorker: options.cancel must be 'cooperative', 'kill' or 'abandon', got ${describe(cancel)}`);
  }
  if (killAfterMs !== undefined && (typeof killAfterMs !== 'number' || Number.isNaN(killAfterMs) || killAfterMs < 0)) {
    throw new RangeError(`runInWorker: options.killAfterMs must be a non-negative number, got ${describe(killAfterMs)}`);
  }
  if (transfer !== undefined && !Array.isArray(transfer)) {
    throw new TypeError(`runInWorker: options.transfer must be an array, got ${describe(transfer)}`);
  }
}

/** What the job's settled promise becomes for the caller. */
function outcomeOf(result: WorkerJobResult, module: string, exportName: string): { value: unknown } | { error: unknown } {
  if (result.ok) return { value: result.value };
  return { error: errorFromWire(result.error, `at ${exportName} (in a worker thread, ${module})`) };
}

/**
 * Runs `module`'s export `exportName` with `args` on a worker thread and resolves with its
 * result. A checkpoint; see the module comment for what cancellation does in each mode. Rejects
 * with the worker's error (same class, message, cause; worker frames in the stack), with
 * `BrokenWorkerError` if the thread died mid-call, and with a TypeError naming the argument if
 * an argument cannot be sent to a thread (before anything is dispatched).
 *
 * ```ts
 * const digest = await runInWorker(new URL('./hash.js', import.meta.url), 'sha256', [path]);
 * ```
 */
export async function runInWorker(
  module: string | URL,
  exportName: string,
  args: unknown[] = [],
  options: WorkerCallOptions = {},
): Promise<unknown> {
  const url = moduleUrl(module);
  if (typeof exportName !== 'string' || exportName === '') {
    throw new TypeError(`runInWorker: exportName must be a non-empty string, got ${describe(exportName)}`);
  }
  if (!Array.isArray(args)) throw new TypeError(`runInWorker: args must be an array, got ${describe(args)}`);
  checkOptions(options);
  // One pass: find the arguments that cross specially (callbacks, channel endpoints); check the rest.
  let special = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (typeof arg === 'object' || typeof arg === 'function') {
      if (isWorkerCallback(arg) || isSharedEndpoint(arg)) {
        special = true;
        continue;
      }
      const bad = whyUncloneable(arg, `argument ${i + 1}`);
      if (bad !== undefined) {
        throw new TypeError(`runInWorker: ${bad}, which cannot be sent to a worker thread (it is not structured-cloneable)`);
      }
    } else if (typeof arg === 'symbol') {
      throw new TypeError(`runInWorker: argument ${i + 1} is a symbol, which cannot be sent to a worker thread`);
    }
  }
  const ctx = currentContext('runInWorker');
  cancelPoint(ctx);
  if (!special) return dispatch(ctx, url, exportName, args, options, undefined);
  if (args.some(isSharedEndpoint)) {
    // Each endpoint crosses as a new slot of its channel; the slots close when the job settles
    // (whatever the worker did), so a crashed or killed worker leaves no channel open.
    const wires: SharedChannelWire[] = [];
    const wiredArgs = args.map((arg) => {
      if (!isSharedEndpoint(arg)) return arg;
      const wire = arg.toWire();
      wires.push(wire);
      return wire;
    });
    const closeSlots = () => {
      for (const wire of wires) closeWire(wire);
    };
    return callWithCallbacks(ctx, url, exportName, wiredArgs, options, closeSlots);
  }
  return callWithCallbacks(ctx, url, exportName, args, options, undefined);
}

function callWithCallbacks(
  ctx: Context,
  url: string,
  exportName: string,
  args: unknown[],
  options: WorkerCallOptions,
  onSettled: (() => void) | undefined,
): Promise<unknown> {
  if (args.some(isWorkerCallback)) {
    // Callbacks run as tasks of this call's own nursery, under the caller's scopes.
    return openNurseryIn(ctx, async (nursery) => {
      const prepared = prepareCallbacks(args, nursery);
      try {
        return await dispatch(currentContext('runInWorker'), url, exportName, prepared.args, {
          ...options,
          transfer: [...(options.transfer ?? []), ...prepared.transfer],
        }, onSettled);
      } finally {
        prepared.close();
      }
    }, `runInWorker(${exportName})`).catch((error: unknown) => {
      // The call's own error is not a nursery's: pass it through unwrapped, as without callbacks.
      throw soleError(error);
    });
  }
  return dispatch(ctx, url, exportName, args, options, onSettled);
}

/** Queues, dispatches and waits for one job; `onSettled` as in startJob. */
async function dispatch(
  ctx: Context,
  url: string,
  exportName: string,
  args: unknown[],
  options: WorkerCallOptions,
  onSettled: (() => void) | undefined,
): Promise<unknown> {
  const pool = options.pool ?? defaultWorkerPool();
  pool.checkOpen();
  const limiter = options.limiter ?? pool.limiter;
  const mode = options.cancel ?? 'cooperative';

  // Queued: an ordinary cancellable wait for a thread. The borrower is this call. (The call
  // itself is a schedule point through the wait below, so a free slot is taken without one.)
  const borrower = {};
  if (!limiter.tryAcquireOnBehalfOf(borrower)) {
    try {
      await limiter.acquireOnBehalfOf(borrower);
    } catch (error) {
      onSettled?.();
      throw error;
    }
  }
  let job: WorkerJobHandle;
  try {
    job = startJob(pool, url, exportName, args, options.transfer, mode === 'kill', onSettled);
  } catch (error) {
    limiter.releaseOnBehalfOf(borrower);
    throw error;
  }

  let killTimer: NodeJS.Timeout | undefined;
  const wait: Wait = blockTask(
    ctx,
    () => {
      // Not started yet: the worker will skip it, so there is nothing to wait for.
      if (job.cancel()) return Abort.SUCCEEDED;
      if (mode === 'abandon') return Abort.SUCCEEDED;
      if (mode === 'kill') killTimer = setTimeout(() => job.kill(), options.killAfterMs ?? DEFAULT_KILL_AFTER_MS);
      return Abort.FAILED;
    },
    `runInWorker(${exportName})`,
    true, // woken by a worker thread: not blocked for autojump
  );
  // The slot is freed when the thread is done with the job, whatever the caller did meanwhile.
  void job.settled.then((outcome) => {
    if (killTimer !== undefined) clearTimeout(killTimer);
    limiter.releaseOnBehalfOf(borrower);
    if (!wait.isSettled) wait.reschedule(outcome);
  });
  return wait.promise;
}

/** @internal a job handed to a pool thread, without a triode wait (see mapInWorkers). */
export interface WorkerJobHandle {
  /** Settles when the thread is done with the job: its value or error (never rejects). */
  readonly settled: Promise<{ value: unknown } | { error: unknown }>;
  /** Sets the cancel word; true when the job had not started (the worker will skip it). */
  cancel(): boolean;
  /** Terminates the thread running the job (only for jobs started `killable`). */
  kill(): void;
}

/**
 * @internal starts one job on `pool` (the caller has taken its limiter slot). `onSettled`
 * (idempotent) runs when the job settles, and also at once when it is cancelled before it starts.
 */
export function startJob(
  pool: WorkerPool,
  url: string,
  exportName: string,
  args: unknown[],
  transfer: TransferListItem[] | undefined,
  killable: boolean,
  onSettled: (() => void) | undefined,
): WorkerJobHandle {
  const cancelWord = pool.cancelWords.acquire();
  // Only 'kill' needs piscina's abort (it terminates the thread); others skip its listener.
  const controller = killable ? new AbortController() : undefined;
  const message: WorkerJob =
    cancelWord.words === pool.cancelWords.block
      ? { url, exportName, args, cancelIndex: cancelWord.index }
      : { url, exportName, args, cancelIndex: cancelWord.index, cancelWords: cancelWord.words };
  let jobPromise: Promise<WorkerJobResult>;
  try {
    jobPromise = pool.piscina.run(message, { signal: controller?.signal ?? null, transferList: transfer });
  } catch (error) {
    pool.cancelWords.release(cancelWord);
    onSettled?.();
    throw error;
  }
  let killed = false;
  // Once settled the word goes back to the pool (and may serve another job): never touch it again.
  let done = false;
  const settled = jobPromise.then(
    (result) => {
      done = true;
      onSettled?.();
      pool.cancelWords.release(cancelWord);
      pool.callFinished();
      return outcomeOf(result, url, exportName);
    },
    (error: unknown) => {
      done = true;
      onSettled?.();
      pool.cancelWords.release(cancelWord);
      if (killed) return { error: new Cancelled('the worker was killed after the calling task was cancelled') };
      if ((error as Error)?.name === 'DataCloneError') {
        return { error: new TypeError(`runInWorker: the result of ${exportName} cannot be sent back from the worker`, { cause: error }) };
      }
      const why = (error as Error)?.message ?? String(error);
      return { error: new BrokenWorkerError(`the worker thread running ${exportName} (${url}) died: ${why}`, { cause: error }) };
    },
  );
  return {
    settled,
    cancel() {
      if (done || !setCancelled(cancelWord)) return false;
      onSettled?.(); // its channel slots can close now (closing a slot twice is a no-op)
      return true;
    },
    kill() {
      if (done) return;
      killed = true;
      controller?.abort(new Cancelled('killed'));
    },
  };
}

type AnyFunction = (...args: never[]) => unknown;

/** The typed face of a worker module: each function export becomes an async call in a worker. */
export type WorkerModule<M> = {
  readonly [K in keyof M as M[K] extends AnyFunction ? K : never]: M[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/**
 * A typed object whose methods call `module`'s exports in a worker (each a `runInWorker` call
 * with `options`).
 *
 * ```ts
 * const hasher = workerModule<typeof import('./hash.js')>(new URL('./hash.js', import.meta.url));
 * const digest = await hasher.sha256(path); // typed as the export's result
 * ```
 */
export function workerModule<M>(module: string | URL, options: WorkerCallOptions = {}): WorkerModule<M> {
  const url = moduleUrl(module, 'workerModule');
  checkOptions(options);
  const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy(Object.create(null) as WorkerModule<M>, {
    get(_target, key) {
      // Not a thenable: `await workerModule(...)` must not try to call a worker export "then".
      if (typeof key !== 'string' || key === 'then') return undefined;
      let method = methods.get(key);
      if (method === undefined) {
        method = (...args: unknown[]) => runInWorker(url, key, args, options);
        methods.set(key, method);
      }
      return method;
    },
  });
}
