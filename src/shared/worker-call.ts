/**
 * What the main thread and a worker agree on for one worker call: the job message, the cancel
 * word, and the slot where the worker keeps the call it is running.
 *
 * The cancel word is one Int32 in a SharedArrayBuffer: 0 while the call may run, 1 once the
 * calling task was cancelled. The main thread writes it with `Atomics.store` + `Atomics.notify`;
 * the worker reads it with one `Atomics.load` (`checkpoint()`), sleeps on it with `Atomics.wait`
 * (`sleepSync`), and an async export waits on it with `Atomics.waitAsync`. Sequentially consistent
 * atomics on both sides mean a cancel is seen by the next load after the store, with no lock.
 */

export interface WorkerJob {
  /** file: URL of the module to load. */
  readonly url: string;
  readonly exportName: string;
  readonly args: unknown[];
  readonly cancelWord: Int32Array;
}

export type WorkerJobResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

export const CANCELLED = 1;

export function newCancelWord(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
}

export function setCancelled(word: Int32Array): void {
  Atomics.store(word, 0, CANCELLED);
  Atomics.notify(word, 0);
}

export function isCancelledWord(word: Int32Array): boolean {
  return Atomics.load(word, 0) === CANCELLED;
}

/** The call a worker thread is running now (one at a time per thread), shared across builds. */
export const CURRENT_CALL = Symbol.for('triode.worker.currentCall');

export interface CurrentCall {
  readonly cancelWord: Int32Array;
}

type GlobalWithCall = typeof globalThis & { [CURRENT_CALL]?: CurrentCall };

export function currentCall(): CurrentCall | undefined {
  return (globalThis as GlobalWithCall)[CURRENT_CALL];
}

export function setCurrentCall(call: CurrentCall | undefined): void {
  (globalThis as GlobalWithCall)[CURRENT_CALL] = call;
}
