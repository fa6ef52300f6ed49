/**
 * `runInWorker` and `workerModule`: call a module's export on a pool thread, under the caller's
 * cancel scopes.
 *
 * A call is a checkpoint. It first waits for a token of the caller's `limiter`, if it gave one,
 * then for one of the pool's job slots; cancelling it there is an ordinary cancelled wait. A job
 * handed to the pool but not started yet is cancelled at once too: no thread can claim it any
 * more (see shared/scheduler.ts), so it never starts.
 * Once running, cancellation follows the call's `cancel` mode:
 *
 * - `'cooperative'` (default): set the call's cancel word and keep waiting for the worker. Code
 *   that calls `checkpoint()` / `sleepSync()` from `triode/worker`, and async exports (whose
 *   root scope is cancelled), stop at once and the call rejects with `Cancelled`; code that
 *   never checks runs to the end and its result is returned (as in Trio: the work was done, so
 *   it is not thrown away); the caller's next checkpoint then raises `Cancelled`.
 *   The default because it is the only mode that never loses work or leaves state half-written.
 * - `'kill'`: set the word, and terminate the thread if it has not finished after `killAfterMs`
 *   (default 100 ms); the call rejects with `Cancelled`, and the pool starts a fresh thread.
 * - `'abandon'`: set the word and raise `Cancelled` at once; the thread finishes on its own
 *   and its limiter slot is freed then.
 */
import { pathToFileURL } from 'node:url';
import type { TransferListItem } from 'node:worker_threads';
import { resolve as resolvePath } from 'node:path';
import { soleError } from '../../shared/errors.js';
import { cancelPoint } from '../core/checkpoint.js';
import { currentContext, type Context } from '../core/context.js';
import { openNurseryIn } from '../core/nursery.js';
import { isWorkerCallback, prepareCallbacks } from './callbacks.js';
import { closeWire, isSharedEndpoint, type SharedChannelWire } from '../channels/shared-channel.js';
import { Abort, blockTask, type Wait } from '../core/traps.js';
import { describe, checkOptions } from '../core/validate.js';
import type { CapacityLimiter } from '../sync/capacity-limiter.js';
import { whyUncloneable } from '../../shared/cloneable.js';
import { crossThreadValuesFor } from '../core/task-local.js';
import { defaultWorkerPool, type WorkerJobHandle } from './pool.js';
import { isPool, type JobListener, type JobResult, type JobSubmitter } from './job-client.js';

export type CancelMode = 'cooperative' | 'kill' | 'abandon';

export interface WorkerCallOptions {
  /** The pool to run on: a WorkerPool, or a RemotePool from `triode/remote` (default: the process-wide default pool). */
  pool?: JobSubmitter;
  /**
   * Bounds this caller's calls: a call first takes one of its tokens, then one of the pool's job
   * slots, so a limiter of any size with a pool of any size only queues.
   */
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

function checkCallOptions(where: string, options: WorkerCallOptions): void {
  checkOptions(where, options);
  const { pool, cancel, killAfterMs, transfer } = options;
  if (pool !== undefined && !isPool(pool)) {
    throw new TypeError(`${where}: options.pool must be a WorkerPool or a RemotePool, got ${describe(pool)}`);
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
export function runInWorker(
  module: string | URL,
  exportName: string,
  args: unknown[] = [],
  options: WorkerCallOptions = {},
): Promise<unknown> {
  // Not an async function: a call that is admitted at once costs no promise of its own (its
  // wait's promise is the one the caller awaits). Errors still reject, never throw.
  try {
    const url = moduleUrl(module);
    if (typeof exportName !== 'string' || exportName === '') {
      throw new TypeError(`runInWorker: exportName must be a non-empty string, got ${describe(exportName)}`);
    }
    if (!Array.isArray(args)) throw new TypeError(`runInWorker: args must be an array, got ${describe(args)}`);
    checkCallOptions('runInWorker', options);
    // One pass: find the arguments that cross specially (callbacks, channel endpoints); check the rest.
    let special = false;
    const found = { shared: false };
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (typeof arg === 'object' || typeof arg === 'function') {
        if (isWorkerCallback(arg) || isSharedEndpoint(arg)) {
          special = true;
          continue;
        }
        const bad = whyUncloneable(arg, `argument ${i + 1}`, found);
        if (bad !== undefined) {
          throw new TypeError(`runInWorker: ${bad}, which cannot be sent to a worker thread (it is not structured-cloneable)`);
        }
      } else if (typeof arg === 'symbol') {
        throw new TypeError(`runInWorker: argument ${i + 1} is a symbol, which cannot be sent to a worker thread`);
      }
    }
    const ctx = currentContext('runInWorker');
    // The task's cross-thread TaskLocal values go with the call; one that cannot is refused here.
    const locals = crossThreadValuesFor('runInWorker', found);
    if ((special || found.shared) && !(options.pool ?? defaultWorkerPool()).sharesMemory) refuseMemoryArgs(args);
    cancelPoint(ctx);
    // Shared memory is shared only through postMessage: such a call takes the message path.
    if (found.shared && options.transfer === undefined) options = { ...options, transfer: [] };
    if (!special) return dispatch(ctx, url, exportName, args, options, locals);
    return callWithCallbacks(ctx, url, exportName, args, options, locals);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * A RemotePool's jobs run in another process: what lives in this process's memory (callbacks,
 * shared-channel endpoints, SharedArrayBuffers) cannot reach them. Refused before anything is sent.
 */
function refuseMemoryArgs(args: unknown[]): never {
  const i = args.findIndex((arg) => isWorkerCallback(arg) || isSharedEndpoint(arg));
  const what =
    i >= 0
      ? `argument ${i + 1} is ${isWorkerCallback(args[i]) ? 'a workerCallback' : 'a shared-channel endpoint'}`
      : 'the arguments (or cross-thread TaskLocal values) hold a SharedArrayBuffer';
  throw new TypeError(`runInWorker: ${what}, which cannot reach a remote pool (it lives in this process's memory)`);
}

/**
 * Each shared-channel endpoint among `args` as a new slot of its channel (taken only once the
 * call was admitted, so queued calls hold no slot); `close` frees them when the job settles,
 * whatever the worker did, so a crashed or killed worker leaves no endpoint open.
 */
const NO_ENDPOINTS = { close: undefined };

function wireEndpoints(args: unknown[]): { args?: unknown[]; close: (() => void) | undefined } {
  // (Most calls pass none: no object per call then; the arguments stay as they are.)
  if (!args.some(isSharedEndpoint)) return NO_ENDPOINTS;
  const wires: SharedChannelWire[] = [];
  const close = () => {
    for (const wire of wires) closeWire(wire);
  };
  try {
    const wired = args.map((arg) => {
      if (!isSharedEndpoint(arg)) return arg;
      const wire = arg.toWire();
      wires.push(wire);
      return wire;
    });
    return { args: wired, close };
  } catch (error) {
    close();
    throw error;
  }
}

function callWithCallbacks(
  ctx: Context,
  url: string,
  exportName: string,
  args: unknown[],
  options: WorkerCallOptions,
  locals: Array<[string, unknown]> | undefined,
): Promise<unknown> {
  if (args.some(isWorkerCallback)) {
    // Callbacks run as tasks of this call's own nursery, under the caller's scopes.
    return openNurseryIn(ctx, async (nursery) => {
      const prepared = prepareCallbacks(args, nursery);
      try {
        return await dispatch(currentContext('runInWorker'), url, exportName, prepared.args, {
          ...options,
          transfer: [...(options.transfer ?? []), ...prepared.transfer],
        }, locals);
      } finally {
        prepared.close();
      }
    }, `runInWorker(${exportName})`).catch((error: unknown) => {
      // The call's own error is not a nursery's: pass it through unwrapped, as without callbacks.
      throw soleError(error);
    });
  }
  return dispatch(ctx, url, exportName, args, options, locals);
}

/** The label of a call's wait (dumpTaskTree), made once per export name. */
const labels = new Map<string, string>();
function labelOf(exportName: string): string {
  let label = labels.get(exportName);
  if (label === undefined) {
    label = `runInWorker(${exportName})`;
    if (labels.size < 1024) labels.set(exportName, label);
  }
  return label;
}

/**
 * One worker call from its admission to its outcome: the borrower of its limiter tokens, the
 * listener of its job and, through its wait's `customSleepData`, what the wait's abort function
 * works on. One object per call, no closures.
 */
class WorkerCall implements JobListener {
  job: WorkerJobHandle | undefined = undefined;
  wait: Wait | undefined = undefined;
  killTimer: NodeJS.Timeout | undefined = undefined;
  /** An outcome that came before the wait existed (a thread can answer while submit returns) or while aborting. */
  early: JobResult | undefined = undefined;
  /** Set while the abort function cancels the job. */
  aborting = false;
  /** The caller's own limiter, when it gave one (its token is taken first). */
  readonly callerLimiter: CapacityLimiter | undefined;

  constructor(
    readonly ctx: Context,
    readonly pool: JobSubmitter,
    readonly options: WorkerCallOptions,
  ) {
    this.callerLimiter = options.limiter !== undefined && options.limiter !== pool.limiter ? options.limiter : undefined;
  }

  /** Gives back the tokens held: the pool's (when `pool`), then the caller's. */
  releaseTokens(pool: boolean): void {
    if (pool) this.pool.limiter.releaseOnBehalfOf(this);
    this.callerLimiter?.releaseOnBehalfOf(this);
  }

  /** The job is over: its slot and tokens are free, whatever the caller did meanwhile. */
  jobSettled(outcome: JobResult): void {
    if (this.killTimer !== undefined) clearTimeout(this.killTimer);
    this.releaseTokens(true);
    const wait = this.wait;
    if (wait === undefined || this.aborting) this.early = outcome;
    else if (!wait.isSettled) wait.reschedule(outcome);
  }

  abort(): Abort {
    const job = this.job!;
    // Not started yet: the worker will skip it, so there is nothing to wait for.
    this.aborting = true;
    const unstarted = job.cancel();
    this.aborting = false;
    if (unstarted) return Abort.SUCCEEDED;
    if (this.early !== undefined) {
      // The job ended while being cancelled (a remote pool that cannot reach Redis gives up at once).
      this.wait!.reschedule(this.early);
      return Abort.FAILED;
    }
    const mode = this.options.cancel;
    if (mode === 'abandon') return Abort.SUCCEEDED;
    if (mode === 'kill') this.killTimer = setTimeout(() => job.kill(), this.options.killAfterMs ?? DEFAULT_KILL_AFTER_MS);
    return Abort.FAILED;
  }
}

function abortWorkerCall(_raise: unknown, wait: Wait): Abort {
  return (wait.customSleepData as WorkerCall).abort();
}

/**
 * Queues, dispatches and waits for one job, with the caller's cross-thread TaskLocal values.
 * Queued, the call waits in ordinary cancellable waits: for the caller's limiter, then for a
 * job slot, borrowed on the call's behalf. A free token is taken without a schedule point (the
 * job's wait is one), and then no promise but the wait's is made.
 */
function dispatch(
  ctx: Context,
  url: string,
  exportName: string,
  args: unknown[],
  options: WorkerCallOptions,
  locals: Array<[string, unknown]> | undefined,
): Promise<unknown> {
  const pool = options.pool ?? defaultWorkerPool();
  pool.checkOpen();
  const call = new WorkerCall(ctx, pool, options);
  const caller = call.callerLimiter;
  if (caller !== undefined && !caller.tryAcquireOnBehalfOf(call)) return dispatchQueued(call, true, url, exportName, args, locals);
  if (!pool.limiter.tryAcquireOnBehalfOf(call)) return dispatchQueued(call, false, url, exportName, args, locals);
  return submitAndWait(call, url, exportName, args, locals);
}

/** dispatch's slow path: waits for the tokens not taken yet (the caller's first, when `callerFirst`), then submits. */
async function dispatchQueued(
  call: WorkerCall,
  callerFirst: boolean,
  url: string,
  exportName: string,
  args: unknown[],
  locals: Array<[string, unknown]> | undefined,
): Promise<unknown> {
  if (callerFirst) await call.callerLimiter!.acquireOnBehalfOf(call);
  try {
    if (!callerFirst || !call.pool.limiter.tryAcquireOnBehalfOf(call)) await call.pool.limiter.acquireOnBehalfOf(call);
  } catch (error) {
    call.releaseTokens(false);
    throw error;
  }
  return submitAndWait(call, url, exportName, args, locals);
}

/** Publishes the job (the call holds all its tokens) and blocks the task until it settles. */
function submitAndWait(
  call: WorkerCall,
  url: string,
  exportName: string,
  args: unknown[],
  locals: Array<[string, unknown]> | undefined,
): Promise<unknown> {
  const { pool, options } = call;
  let wired: ReturnType<typeof wireEndpoints> | undefined;
  try {
    pool.checkOpen();
    wired = wireEndpoints(args);
    call.job = pool.submit({
      url,
      exportName,
      args: wired.args ?? args,
      transfer: options.transfer,
      onSettled: wired.close,
      listener: call,
      locals,
      killable: options.cancel === 'kill',
    });
  } catch (error) {
    call.releaseTokens(true);
    wired?.close?.();
    return Promise.reject(error);
  }
  // Woken by a worker thread: not blocked for autojump.
  const wait = blockTask(call.ctx, abortWorkerCall, labelOf(exportName), true);
  wait.customSleepData = call;
  wait.detail = call.job;
  call.wait = wait;
  if (call.early !== undefined) wait.reschedule(call.early);
  return wait.promise;
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
  checkCallOptions('workerModule', options);
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
