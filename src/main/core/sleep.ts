/**
 * Time: `sleep`, `sleepUntil`, `sleepForever`, `currentTime`.
 *
 * A sleeping task is one wait plus one entry in the run's deadline heap; no scope is created
 * and no Node timer per sleeper (the run arms one timer for the earliest deadline).
 */
import { checkpoint } from './checkpoint.js';
import { currentContext, type Context } from './context.js';
import type { DeadlineEntry } from './deadlines.js';
import { Abort, blockTask, type Wait } from './traps.js';
import { checkDeadline, checkDuration } from './validate.js';

/** Abort for a sleeping wait: its deadline entry (in customSleepData) leaves the heap. */
function abortSleep(_raiseCancel: unknown, wait: Wait): Abort {
  const entry = wait.customSleepData as DeadlineEntry | undefined;
  if (entry !== undefined) wait.task.runner.removeDeadline(entry);
  return Abort.SUCCEEDED;
}

/**
 * The sleeping wait: one Wait that is also its own deadline-heap owner. Not an async function,
 * so a sleeping task holds no extra promise or frame beyond the wait's own.
 */
function sleepWait(ctx: Context, deadline: number): Promise<unknown> {
  const runner = ctx.task.runner;
  if (deadline <= runner.clock.currentTime()) return checkpoint();
  const wait = blockTask(ctx, abortSleep, 'sleep');
  wait.customSleepData = runner.addDeadline(deadline, wait);
  return wait.promise;
}

/** The current time in ms on the run's clock (monotonic; MockClock's virtual time in tests). */
export function currentTime(): number {
  return currentContext('currentTime').task.runner.clock.currentTime();
}

/**
 * Sleeps until `deadline` (ms on the run's clock). A checkpoint, also when the deadline has
 * passed. Cancellation ends the sleep at once with `Cancelled`.
 */
export function sleepUntil(deadline: number): Promise<void> {
  try {
    checkDeadline('sleepUntil', 'deadline', deadline);
    return sleepWait(currentContext('sleepUntil'), deadline) as Promise<void>;
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Sleeps for `ms` milliseconds. A checkpoint (also `sleep(0)`); rejects with RangeError for a
 * negative or NaN duration. Cancellation ends the sleep at once with `Cancelled`.
 */
export function sleep(ms: number): Promise<void> {
  try {
    checkDuration('sleep', 'ms', ms);
    const ctx = currentContext('sleep');
    return sleepWait(ctx, ctx.task.runner.clock.currentTime() + ms) as Promise<void>;
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Sleeps until cancelled. A checkpoint; always ends with `Cancelled`. */
export async function sleepForever(): Promise<never> {
  const ctx = currentContext('sleepForever');
  await blockTask(ctx, () => Abort.SUCCEEDED, 'sleepForever').promise;
  throw new Error('sleepForever was rescheduled without an error');
}
