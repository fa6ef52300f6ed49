/**
 * Timeouts are cancel scopes with deadlines: `moveOnAfter`/`moveOnAt` give up quietly
 * (resolving with `undefined`), `failAfter`/`failAt` give up loudly (`TooSlowError`).
 */
import { TooSlowError } from '../../shared/errors.js';
import { CancelScope } from './cancel-scope.js';
import { currentContext } from './context.js';
import { checkDeadline, checkDuration, checkFunction, checkOptions } from './validate.js';

export interface TimeoutOptions {
  /** Shield the body from cancellations outside the timeout's scope. */
  shield?: boolean;
}

function scopeFor(where: string, deadline: number, fn: unknown, options: TimeoutOptions): CancelScope {
  checkFunction(where, 'fn', fn);
  checkOptions(where, options);
  const scope = new CancelScope({ deadline, shield: options.shield ?? false });
  scope.label = where;
  return scope;
}

/**
 * Runs `fn(scope)` and cancels it at `deadline` (ms on the run's clock). Resolves with its value,
 * or `undefined` if the deadline cancelled it (`scope.cancelledCaught` tells which).
 */
export function moveOnAt<T>(
  deadline: number,
  fn: (scope: CancelScope) => Promise<T> | T,
  options: TimeoutOptions = {},
): Promise<T | undefined> {
  try {
    checkDeadline('moveOnAt', 'deadline', deadline);
    const ctx = currentContext('moveOnAt');
    return scopeFor('moveOnAt', deadline, fn, options).runIn(ctx, fn);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Runs `fn(scope)` and cancels it after `ms` milliseconds. Resolves with its value, or
 * `undefined` if the timeout cancelled it.
 *
 * ```ts
 * const reply = await moveOnAfter(500, () => channel.receive());
 * if (reply === undefined) console.log('no reply within 500 ms');
 * ```
 */
export function moveOnAfter<T>(
  ms: number,
  fn: (scope: CancelScope) => Promise<T> | T,
  options: TimeoutOptions = {},
): Promise<T | undefined> {
  // Not an async function: the scope's own frame is the only one (a timeout per task is common).
  try {
    checkDuration('moveOnAfter', 'ms', ms);
    const ctx = currentContext('moveOnAfter');
    const now = ctx.task.runner.clock.currentTime();
    return scopeFor(`moveOnAfter(${ms})`, now + ms, fn, options).runIn(ctx, fn);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Like `moveOnAt`, but rejects with `TooSlowError` if the deadline cancelled the body. */
export async function failAt<T>(
  deadline: number,
  fn: (scope: CancelScope) => Promise<T> | T,
  options: TimeoutOptions = {},
): Promise<T> {
  checkDeadline('failAt', 'deadline', deadline);
  const scope = scopeFor('failAt', deadline, fn, options);
  const value = await scope.run(fn);
  if (scope.cancelledCaught) throw new TooSlowError(`deadline ${deadline} passed before the operation finished`);
  return value as T;
}

/**
 * Like `moveOnAfter`, but rejects with `TooSlowError` if the timeout cancelled the body.
 *
 * ```ts
 * const user = await failAfter(2000, () => loadUser(id)); // TooSlowError after 2 s
 * ```
 */
export async function failAfter<T>(
  ms: number,
  fn: (scope: CancelScope) => Promise<T> | T,
  options: TimeoutOptions = {},
): Promise<T> {
  checkDuration('failAfter', 'ms', ms);
  const now = currentContext('failAfter').task.runner.clock.currentTime();
  const scope = scopeFor(`failAfter(${ms})`, now + ms, fn, options);
  const value = await scope.run(fn);
  if (scope.cancelledCaught) throw new TooSlowError(`operation took longer than ${ms} ms`);
  return value as T;
}

/**
 * The deadline that applies to the calling code: the earliest deadline of the scopes around it,
 * up to the first shield. Infinity when none; -Infinity when it is already cancelled.
 */
export function currentEffectiveDeadline(): number {
  let status: import('./cancel-status.js').CancelStatus | undefined = currentContext('currentEffectiveDeadline').status;
  if (status.effectivelyCancelled) return -Infinity;
  let deadline = Infinity;
  while (status !== undefined) {
    const owner = status.owner;
    if (owner instanceof CancelScope && owner.deadline < deadline) deadline = owner.deadline;
    if (owner.shield) break;
    status = status.parent;
  }
  return deadline;
}
