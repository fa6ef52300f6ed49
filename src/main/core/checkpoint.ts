/**
 * Checkpoints: the points where a task may be cancelled and where other tasks get to run.
 *
 * A checkpoint raises `Cancelled` if the code calling it is effectively cancelled, and otherwise
 * lets other tasks run. The caller's own `await` of the returned promise is already a schedule
 * point: the caller resumes only after the microtask queue has run everything queued before it.
 * So the common path awaits nothing inside (one promise per checkpoint, as cheap as it gets
 * under AsyncLocalStorage). A schedule point instead goes through the event loop (`setImmediate`)
 * every 1,024th time, or when 2 ms have passed since the last time, so a CPU-bound loop that
 * checkpoints — however slow each step — still lets timers, I/O and Ctrl-C in, and therefore
 * lets a deadline or a KeyboardInterrupt cancel it.
 *
 * `cancelPoint` / `schedulePoint` are the two halves, for primitives (channels, locks) that
 * check for cancellation, do their work synchronously, and then yield.
 */
import { isMainThread } from 'node:worker_threads';
import type { Context } from './context.js';
import { currentContext } from './context.js';

const MACROTASK_EVERY = 1024;
const MACROTASK_AFTER_MS = 2;
let schedulePointsSinceMacrotask = 0;
let lastMacrotask = performance.now();
/**
 * The event loop's turn, while one is under way: every task reaching a schedule point until it
 * comes waits for the same turn and resumes in arrival order, so a turn given to the event loop
 * never reorders the run's tasks (the interleaving stays what it would have been).
 */
let eventLoopTurn: Promise<void> | undefined;

function endTurn(resolve: () => void): void {
  eventLoopTurn = undefined;
  lastMacrotask = performance.now();
  resolve();
}

/** @internal the event loop's current turn, started if there is none. */
export function yieldToEventLoop(): Promise<void> {
  schedulePointsSinceMacrotask = 0;
  return (eventLoopTurn ??= new Promise((resolve) => setImmediate(endTurn, resolve)));
}

/**
 * Reading the clock costs ~60 ns, a fifth of a checkpoint, so it is read every `clockStride`
 * schedule points: the stride doubles (up to 16) while the points come fast, and drops to 1 as
 * soon as one read finds them slow, so a loop of slow steps is timed at every step.
 */
const MAX_CLOCK_STRIDE = 16;
let clockStride = 1;
let pointsToClockRead = 1;
let lastClockRead = performance.now();

/**
 * Whether the event loop is due a turn: every 1,024 schedule points, or — on the main thread,
 * where Ctrl-C, timers and I/O must get through — after 2 ms without one. A worker thread's runs
 * (its async jobs) keep the count alone: their thread loop gives the event loop its turns.
 */
function eventLoopDue(): boolean {
  if (++schedulePointsSinceMacrotask >= MACROTASK_EVERY) return true;
  if (!isMainThread || --pointsToClockRead > 0) return false;
  const now = performance.now();
  const sinceRead = now - lastClockRead;
  lastClockRead = now;
  if (sinceRead < 0.1) clockStride = Math.min(MAX_CLOCK_STRIDE, clockStride * 2);
  else if (sinceRead > 0.5) clockStride = 1;
  pointsToClockRead = clockStride;
  return now - lastMacrotask >= MACROTASK_AFTER_MS;
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

/** @internal true when it is the event loop's turn (a turn is under way, or one is due). */
export function macrotaskDue(): boolean {
  return (
    eventLoopTurn !== undefined ||
    schedulePointsSinceMacrotask >= MACROTASK_EVERY ||
    (isMainThread && performance.now() - lastMacrotask >= MACROTASK_AFTER_MS)
  );
}

/**
 * @internal a schedule point for an async primitive that did not block. Returns a promise to
 * await when it is the event loop's turn, otherwise undefined (the caller's await suffices).
 */
export function schedulePoint(ctx: Context): Promise<void> | undefined {
  ctx.task.schedulePoints++;
  if (eventLoopTurn !== undefined) return eventLoopTurn;
  return eventLoopDue() ? yieldToEventLoop() : undefined;
}

/**
 * Yields to other tasks and raises `Cancelled` if the surrounding scope was cancelled. Put it in
 * long loops that otherwise never wait, so they can be cancelled.
 *
 * ```ts
 * for (const row of rows) { transform(row); await checkpoint(); }
 * ```
 */
export function checkpoint(): Promise<void> {
  // Not an async function: the common path hands back one settled promise, and the caller's
  // await of it is the schedule point — no promise of its own per checkpoint (under Node < 24's
  // AsyncLocalStorage hook each promise costs as much as the rest of a checkpoint).
  let ctx: Context;
  try {
    ctx = currentContext('checkpoint');
    cancelPoint(ctx);
  } catch (error) {
    return Promise.reject(error);
  }
  const macrotask = schedulePoint(ctx);
  if (macrotask === undefined) return SETTLED;
  return macrotask.then(() => cancelPoint(ctx));
}

const SETTLED: Promise<void> = Promise.resolve();

/**
 * @internal the schedule point of an operation that did not block, for primitives written as
 * plain functions: a settled promise (the caller's await is the schedule point), or the end of the
 * event loop's turn when one is due — one step after it, as a checkpoint's, so the tasks resuming
 * after a turn keep their order.
 */
export function afterSchedulePoint(ctx: Context): Promise<void> {
  const macrotask = schedulePoint(ctx);
  return macrotask === undefined ? SETTLED : macrotask.then(noop);
}

/** @internal `afterSchedulePoint` that resolves with `value`. */
export function valueAfterSchedulePoint<V>(ctx: Context, value: V): Promise<V> {
  const macrotask = schedulePoint(ctx);
  return macrotask === undefined ? Promise.resolve(value) : macrotask.then(() => value);
}

function noop(): void {}

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
