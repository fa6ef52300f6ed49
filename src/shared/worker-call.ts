/**
 * What the main thread and a worker agree on for one worker call: the job message, the cancel
 * word, and the slot where the worker keeps the call it is running.
 *
 * The cancel word is one Int32 in a SharedArrayBuffer (a slot in a shared block, reused once the
 * call has settled). It goes QUEUED (0) → RUNNING (2) when the worker starts the call, or
 * QUEUED → CANCELLED (1) when the caller is cancelled first; both moves are compare-and-swap, so
 * exactly one side wins: a call cancelled while still queued (in piscina's queue or on its way to
 * a thread) is skipped by the worker and never starts, and the caller need not wait for it. A
 * call cancelled while running goes RUNNING → CANCELLED with `Atomics.store` + `Atomics.notify`;
 * the worker reads it with one `Atomics.load` (`checkpoint()`), sleeps on it with `Atomics.wait`
 * (`sleepSync`), and an async export waits on it with `Atomics.waitAsync`. Sequentially
 * consistent atomics mean each side sees the other's write at its next load, with no lock.
 */

export interface WorkerJob {
  /** file: URL of the module to load. */
  readonly url: string;
  readonly exportName: string;
  readonly args: unknown[];
  /**
   * Which word of the pool's shared block (given to each thread once, as piscina's workerData)
   * is this call's; or, when the block was full, a block of its own.
   */
  readonly cancelIndex: number;
  readonly cancelWords?: Int32Array;
}

export type WorkerJobResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

export const QUEUED = 0;
export const CANCELLED = 1;
export const RUNNING = 2;

/** One call's cancel word: a slot in a shared block. */
export interface CancelWord {
  readonly words: Int32Array;
  readonly index: number;
}

/**
 * Hands out cancel words from one shared block that every thread of a pool received once, and
 * takes them back. Sending a SharedArrayBuffer with every job would cost more than the rest of
 * a trivial call, so a job carries only its word's index. When every word is in use (more calls
 * in flight than the block holds) a call gets a word in a block of its own.
 */
export class CancelWords {
  readonly block: Int32Array;
  private readonly free: number[] = [];

  constructor(size = 4096) {
    this.block = new Int32Array(new SharedArrayBuffer(size * Int32Array.BYTES_PER_ELEMENT));
    for (let index = size - 1; index >= 0; index--) this.free.push(index);
  }

  acquire(): CancelWord {
    const index = this.free.pop();
    if (index !== undefined) return { words: this.block, index };
    return { words: new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)), index: 0 };
  }

  /** Only once no thread reads the word any more (the call has settled). */
  release(word: CancelWord): void {
    if (word.words !== this.block) return;
    Atomics.store(word.words, word.index, QUEUED);
    this.free.push(word.index);
  }
}

/**
 * Marks the call cancelled. Returns true when it had not started (the worker will skip it),
 * false when it was already running (the worker sees the flag at its next check).
 */
export function setCancelled(word: CancelWord): boolean {
  const previous = Atomics.compareExchange(word.words, word.index, QUEUED, CANCELLED);
  if (previous === QUEUED) return true;
  Atomics.store(word.words, word.index, CANCELLED);
  Atomics.notify(word.words, word.index);
  return false;
}

/** Worker side: claims the call for running; false when it was cancelled before it started. */
export function markRunning(word: CancelWord): boolean {
  return Atomics.compareExchange(word.words, word.index, QUEUED, RUNNING) === QUEUED;
}

export function isCancelledWord(word: CancelWord): boolean {
  return Atomics.load(word.words, word.index) === CANCELLED;
}

/** The call a worker thread is running now (one at a time per thread), shared across builds. */
export const CURRENT_CALL = Symbol.for('triode.worker.currentCall');

export interface CurrentCall {
  readonly cancelWord: CancelWord;
}

type GlobalWithCall = typeof globalThis & { [CURRENT_CALL]?: CurrentCall };

export function currentCall(): CurrentCall | undefined {
  return (globalThis as GlobalWithCall)[CURRENT_CALL];
}

export function setCurrentCall(call: CurrentCall | undefined): void {
  (globalThis as GlobalWithCall)[CURRENT_CALL] = call;
}
