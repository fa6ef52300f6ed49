import { AssertionError } from 'node:assert';
import { currentContext } from '../core/context.js';
import { checkFunction } from '../core/validate.js';

/**
 * Runs `fn` and fails with an AssertionError if it neither threw nor passed a checkpoint (a
 * point where it could be cancelled and where other tasks could run). Resolves with its value.
 *
 * ```ts
 * await assertCheckpoints(() => lock.acquire());
 * ```
 */
export async function assertCheckpoints<T>(fn: () => Promise<T> | T): Promise<T> {
  checkFunction('assertCheckpoints', 'fn', fn);
  const task = currentContext('assertCheckpoints').task;
  const cancelPoints = task.cancelPoints;
  const schedulePoints = task.schedulePoints;
  const value = await fn();
  if (task.cancelPoints === cancelPoints || task.schedulePoints === schedulePoints) {
    throw new AssertionError({ message: 'expected a checkpoint, but the code did not pass one' });
  }
  return value;
}

/** Runs `fn` and fails with an AssertionError if it passed any checkpoint. */
export async function assertNoCheckpoints<T>(fn: () => Promise<T> | T): Promise<T> {
  checkFunction('assertNoCheckpoints', 'fn', fn);
  const task = currentContext('assertNoCheckpoints').task;
  const cancelPoints = task.cancelPoints;
  const schedulePoints = task.schedulePoints;
  const value = await fn();
  if (task.cancelPoints !== cancelPoints || task.schedulePoints !== schedulePoints) {
    throw new AssertionError({ message: 'expected no checkpoint, but the code passed one' });
  }
  return value;
}
