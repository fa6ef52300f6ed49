/**
 * Checkpoints: the points where a task may be cancelled and where other tasks get to run.
 *
 * A checkpoint raises `Cancelled` if the code calling it is effectively cancelled, and otherwise
 * lets other tasks run. The caller's own `await` of the returned promise is already a schedule
 * point: the caller resumes only after the microtask queue has run everything queued before it.
 * So the common path awaits nothing inside (one promise per checkpoint, as cheap as it gets
 * under AsyncLocalStorage). Every 1,024th schedule point instead goes through the event loop
 * (`setImmediate`), so a CPU-bound loop that checkpoints still lets timers and I/O run — and
 * therefore lets a deadline cancel it.
 *
 * `cancelPoint` / `schedulePoint` are the two halves, for primitives (channels, locks) that
 * check for cancellation, do their work synchronously, and then yield.
 */
import type { Context } from './context.js';
import { currentContext } from './context.js';

const MACROTASK_EVERY = 1024;
let schedulePointsSinceMacrotask = 0;

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** @internal raises `Cancelled` if `ctx` is effectively cancelled (a cancel point). */
export function cancelPoint(ctx: Context): void {
  ctx.task.cancelPoints++;
  if (ctx.status.effectivelyCancelled) {
    // Counted too: a loop whose every operation is cancelled on entry must still let the event
    // loop run now and then (see macrotaskDue and CancelScope.runIn).
    schedulePointsSinceMacrotask++;
    throw ctx.status.makeCancelled();
  }
}

/** @internal true (and the count reset) when it is the event loop's turn. */
export function macrotaskDue(): boolean {
  if (schedulePointsSinceMacrotask < MACROTASK_EVERY) return false;
  schedulePointsSinceMacrotask = 0;
  return true;
}

/**
 * @internal a schedule point for an async primitive that did not block. Returns a promise to
 * await when it is the event loop's turn, otherwise undefined (the caller's await suffices).
 */
export function schedulePoint(ctx: Context): Promise<void> | undefined {
  ctx.task.schedulePoints++;
  if (++schedulePointsSinceMacrotask < MACROTASK_EVERY) return undefined;
  schedulePointsSinceMacrotask = 0;
  return yieldToEventLoop();
}

/**
 * Yields to other tasks and raises `Cancelled` if the surrounding scope was cancelled. Put it in
 * long loops that otherwise never wait, so they can be cancelled.
 *
 * ```ts
 * for (const row of rows) { transform(row); await checkpoint(); }
 * ```
 */
export async function checkpoint(): Promise<void> {
  const ctx = currentContext('checkpoint');
  cancelPoint(ctx);
  const macrotask = schedulePoint(ctx);
  if (macrotask !== undefined) {
    await macrotask;
    cancelPoint(ctx);
  }
}

/**
 * Raises `Cancelled` if the surrounding scope was cancelled; otherwise returns without yielding
 * to the event loop. A cancel point but not a schedule point.
 */
export async function checkpointIfCancelled(): Promise<void> {
  cancelPoint(currentContext('checkpointIfCancelled'));
}

/** Lets other tasks run without checking for cancellation (Trio's cancel_shielded_checkpoint). */
export async function cancelShieldedCheckpoint(): Promise<void> {
  const macrotask = schedulePoint(currentContext('cancelShieldedCheckpoint'));
  if (macrotask !== undefined) await macrotask;
}
