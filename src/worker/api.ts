/**
 * The worker-side API: what code running in a worker call uses to notice that the calling task
 * was cancelled. Safe to import on any thread (one module can serve both sides). Called by code
 * running in a triode run on the main thread (a worker module's function under test, say),
 * `checkpoint()` and `isCancelled()` look at the current task's cancel scopes instead; outside
 * both, the functions throw a clear Error.
 */
import { CANCEL } from '../shared/scheduler.js';
import { callCancelled, currentCall, isCancelledWord, type CurrentCall } from '../shared/worker-call.js';
import { peekContext, type Context } from '../main/core/context.js';

function outside(what: string): Error {
  return new Error(`${what} from triode/worker must be called inside a worker call (code run by runInWorker or workerModule) or a triode run`);
}

function callOrThrow(what: string): CurrentCall {
  const call = currentCall();
  if (call === undefined) throw outside(what);
  return call;
}

/** The worker call the code belongs to, else the triode task it runs in (on any thread), else throws. */
function callOrTask(what: string): CurrentCall | Context {
  const call = currentCall();
  if (call !== undefined) return call;
  const ctx = peekContext();
  if (ctx !== undefined) return ctx;
  throw outside(what);
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
  const where = callOrTask('checkpoint()');
  if ('cancelWord' in where) {
    if (isCancelledWord(where.cancelWord)) throw callCancelled();
  } else if (where.status.effectivelyCancelled) {
    throw where.status.makeCancelled(); // in a run: the current scope's own Cancelled
  }
}

/** True once the calling task was cancelled. Never throws inside a worker call or a run. */
export function isCancelled(): boolean {
  const where = callOrTask('isCancelled()');
  return 'cancelWord' in where ? isCancelledWord(where.cancelWord) : where.status.effectivelyCancelled;
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
  if (isCancelledWord(word)) throw callCancelled();
}
