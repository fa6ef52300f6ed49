/**
 * Bridges to code that triode cannot interrupt: the ecosystem's AbortSignal, and promises that
 * nothing can cancel.
 */
import { checkpointIfCancelled } from './checkpoint.js';
import { currentContext } from './context.js';
import { Abort, blockTask } from './traps.js';
import { describe } from './validate.js';

/**
 * An AbortSignal that aborts (with a `Cancelled` as its reason) when the calling code becomes
 * effectively cancelled. Pass it to `fetch`, `fs.promises`, `child_process`,
 * `timers/promises` and anything else that takes a `signal`. Not a checkpoint.
 *
 * ```ts
 * await moveOnAfter(1000, async () => {
 *   const res = await fetch(url, { signal: currentAbortSignal() });
 * });
 * ```
 */
export function currentAbortSignal(): AbortSignal {
  return currentContext('currentAbortSignal').status.signal();
}

/**
 * Waits for a promise that cannot be cancelled, but stops waiting when the caller is cancelled:
 * then it raises `Cancelled` at once and ignores whatever the promise does later (its rejection
 * included, so it never becomes an unhandled rejection). A checkpoint.
 *
 * The work behind the promise goes on: use it only for work that is safe to abandon.
 */
export async function abandonOnCancel<T>(promise: PromiseLike<T>): Promise<T> {
  if (promise === null || typeof (promise as { then?: unknown } | undefined)?.then !== 'function') {
    throw new TypeError(`abandonOnCancel: expected a promise (a thenable), got ${describe(promise)}`);
  }
  const ctx = currentContext('abandonOnCancel');
  await checkpointIfCancelled();
  const wait = blockTask(ctx, () => Abort.SUCCEEDED, 'abandonOnCancel');
  Promise.resolve(promise).then(
    (value) => {
      if (!wait.isSettled) wait.reschedule({ value });
    },
    (error: unknown) => {
      if (!wait.isSettled) wait.reschedule({ error });
    },
  );
  return wait.promise as Promise<T>;
}
