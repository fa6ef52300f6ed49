/**
 * Time: `sleep`, `sleepUntil`, `sleepForever`, `currentTime`.
 *
 * A sleeping task is one wait plus one entry in the run's deadline heap; no scope is created
 * and no Node timer per sleeper (the run arms one timer for the earliest deadline).
 */
import { checkpoint } from './checkpoint.js';
import { currentContext } from './context.js';
import type { DeadlineEntry, DeadlineOwner } from './deadlines.js';
import { Abort, blockTask, type Wait } from './traps.js';
import { checkDeadline, checkDuration } from './validate.js';

class Sleeper implements DeadlineOwner {
  wait: Wait | undefined;
  entry: DeadlineEntry | undefined;
  deadlineExpired(): void {
    this.entry = undefined;
    this.wait?.reschedule(undefined);
  }
}

/** The current time in ms on the run's clock (monotonic; MockClock's virtual time in tests). */
export function currentTime(): number {
  return currentContext('currentTime').task.runner.clock.currentTime();
}

/**
 * Sleeps until `deadline` (ms on the run's clock). A checkpoint, also when the deadline has
 * passed. Cancellation ends the sleep at once with `Cancelled`.
 */
export async function sleepUntil(deadline: number): Promise<void> {
  checkDeadline('sleepUntil', 'deadline', deadline);
  const ctx = currentContext('sleepUntil');
  const runner = ctx.task.runner;
  if (deadline <= runner.clock.currentTime()) return checkpoint();
  const sleeper = new Sleeper();
  sleeper.entry = runner.addDeadline(deadline, sleeper);
  const wait = blockTask(ctx, () => {
    if (sleeper.entry !== undefined) runner.removeDeadline(sleeper.entry);
    return Abort.SUCCEEDED;
  }, `sleepUntil(${deadline})`);
  sleeper.wait = wait;
  await wait.promise;
}

/**
 * Sleeps for `ms` milliseconds. A checkpoint (also `sleep(0)`); rejects with RangeError for a
 * negative or NaN duration. Cancellation ends the sleep at once with `Cancelled`.
 */
export async function sleep(ms: number): Promise<void> {
  checkDuration('sleep', 'ms', ms);
  const ctx = currentContext('sleep');
  if (ms === 0) return checkpoint();
  return sleepUntil(ctx.task.runner.clock.currentTime() + ms);
}

/** Sleeps until cancelled. A checkpoint; always ends with `Cancelled`. */
export async function sleepForever(): Promise<never> {
  const ctx = currentContext('sleepForever');
  await blockTask(ctx, () => Abort.SUCCEEDED, 'sleepForever').promise;
  throw new Error('sleepForever was rescheduled without an error');
}
