/**
 * The worker-side API: what code running in a worker call uses to notice that the calling task
 * was cancelled. Safe to import on any thread (one module can serve both sides); the functions
 * throw a clear Error when no worker call is running on this thread.
 */
import { Cancelled } from '../shared/errors.js';
import { CANCEL } from '../shared/scheduler.js';
import { currentCall, isCancelledWord, type CurrentCall } from '../shared/worker-call.js';

function callOrThrow(what: string): CurrentCall {
  const call = currentCall();
  if (call === undefined) {
    throw new Error(
      `${what} from triode/worker must be called inside a worker call (code run by runInWorker or workerModule)`,
    );
  }
  return call;
}

function cancelled(): Cancelled {
  return new Cancelled('the calling task was cancelled');
}

/**
 * Throws `Cancelled` if the task that made this worker call was cancelled; otherwise returns at
 * once (one `Atomics.load`). Call it in long loops so cooperative cancellation can stop them.
 *
 * ```ts
 * export function crunch(rows: number[]) {
 *   for (const row of rows) { checkpoint(); work(row); }
 * }
 * ```
 */
export function checkpoint(): void {
  if (isCancelledWord(callOrThrow('checkpoint()').cancelWord)) throw cancelled();
}

/** True once the calling task was cancelled. Never throws inside a worker call. */
export function isCancelled(): boolean {
  return isCancelledWord(callOrThrow('isCancelled()').cancelWord);
}

/**
 * Blocks this worker thread for `ms` milliseconds, waking at once and throwing `Cancelled` if
 * the calling task is cancelled meanwhile (an `Atomics.wait` on the call's cancel word).
 */
export function sleepSync(ms: number): void {
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) {
    throw new RangeError(`sleepSync: ms must be a non-negative number of milliseconds, got ${String(ms)}`);
  }
  const word = callOrThrow('sleepSync()').cancelWord;
  const running = Atomics.load(word.words, word.index);
  if ((running & CANCEL) === 0) Atomics.wait(word.words, word.index, running, ms);
  if (isCancelledWord(word)) throw cancelled();
}
