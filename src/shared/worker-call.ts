/**
 * What the worker-side API reads: the call a pool thread is running now, and its cancel word (the
 * job's STATE word in the scheduler's shared memory; see scheduler.ts). `checkpoint()` is one
 * `Atomics.load` of it; `sleepSync` sleeps on it with `Atomics.wait`, woken by the caller's
 * `Atomics.or` + `Atomics.notify`.
 */
import { CANCEL } from './scheduler.js';

/** One call's cancel word: a STATE word of the pool's scheduler. */
export interface CancelWord {
  readonly words: Int32Array;
  readonly index: number;
}

export function isCancelledWord(word: CancelWord): boolean {
  return (Atomics.load(word.words, word.index) & CANCEL) !== 0;
}

/** The call a worker thread is running now (one at a time per thread), shared across builds. */
export const CURRENT_CALL = Symbol.for('triode.worker.currentCall');

export interface CurrentCall {
  readonly cancelWord: CancelWord;
  /**
   * The caller's cross-thread TaskLocal values, keyed by this thread's TaskLocal objects: what a
   * synchronous export (no run) sees and sets, for this call only. Made on first use.
   */
  locals?: Map<object, unknown>;
}

type GlobalWithCall = typeof globalThis & { [CURRENT_CALL]?: CurrentCall };

export function currentCall(): CurrentCall | undefined {
  return (globalThis as GlobalWithCall)[CURRENT_CALL];
}

export function setCurrentCall(call: CurrentCall | undefined): void {
  (globalThis as GlobalWithCall)[CURRENT_CALL] = call;
}
