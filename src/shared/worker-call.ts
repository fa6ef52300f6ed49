/**
 * What the worker-side API reads: the call the running code belongs to, and its cancel word (the
 * job's STATE word in the scheduler's shared memory; see scheduler.ts). `checkpoint()` is one
 * `Atomics.load` of it; `sleepSync` sleeps on it with `Atomics.wait`, woken by the caller's
 * `Atomics.or` + `Atomics.notify`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createCancelled, type Cancelled } from './errors.js';
import { CANCEL } from './scheduler.js';

/** One call's cancel word: a STATE word of the pool's scheduler. */
export interface CancelWord {
  readonly words: Int32Array;
  readonly index: number;
}

export function isCancelledWord(word: CancelWord): boolean {
  return (Atomics.load(word.words, word.index) & CANCEL) !== 0;
}

/**
 * The `Cancelled` that code in a worker call meets once its cancel word is set. Without a stack:
 * it ends the call, and the caller, on another thread, raises it in a task whose own scope was
 * cancelled — the worker's frames are never shown, and capturing them was a quarter of a
 * cooperative cancel's latency.
 */
export function callCancelled(): Cancelled {
  return createCancelled('the calling task was cancelled', false);
}

/**
 * The call the running code belongs to. A pool thread may have several calls in progress (async
 * ones waiting while it runs others), so the call travels with the code in an AsyncLocalStorage:
 * timers and promises a call creates carry it too (which is also how an error thrown by a timer
 * is blamed on the call that set it). One storage per thread, shared by the ESM and CJS builds.
 */
const CALLS = Symbol.for('triode.worker.calls');
type GlobalWithCalls = typeof globalThis & { [CALLS]?: AsyncLocalStorage<CurrentCall> };
const calls: AsyncLocalStorage<CurrentCall> = ((globalThis as GlobalWithCalls)[CALLS] ??= new AsyncLocalStorage<CurrentCall>());

export interface CurrentCall {
  readonly cancelWord: CancelWord;
  /**
   * The caller's cross-thread TaskLocal values, keyed by this thread's TaskLocal objects: what a
   * synchronous export (no run) sees and sets, for this call only. Made on first use.
   */
  locals?: Map<object, unknown>;
  /** The module the call runs (named in reports of errors it leaves behind). */
  readonly module: string;
  /** Set once the call has answered: code of it still running after that is a leftover. */
  finished: boolean;
}

export function currentCall(): CurrentCall | undefined {
  return calls.getStore();
}

/** Runs `fn` as code of `call` (and everything it schedules). */
export function runAsCall<R>(call: CurrentCall, fn: () => R): R {
  return calls.run(call, fn);
}
