/**
 * `waitForEvent`: block the current task until a Node event emitter emits one event (or
 * `'error'`). The bridge for one-shot I/O events — a socket connecting, a server listening, a
 * child process spawning — into a cancellable triode wait.
 */
import type { EventEmitter } from 'node:events';
import { currentContext } from './context.js';
import { Abort, blockTask, type Wait } from './traps.js';
import { describe } from './validate.js';

/**
 * Resolves with the first argument of `event`, rejects with the argument of `'error'`. A
 * checkpoint. On cancellation `onCancel()` runs (destroy the half-made resource there), the
 * listeners are removed and `Cancelled` is raised.
 */
export async function waitForEvent<T = unknown>(
  emitter: EventEmitter,
  event: string | symbol,
  what?: string,
  onCancel?: () => void,
): Promise<T> {
  const ctx = currentContext('waitForEvent');
  const e = emitter as Partial<EventEmitter> | null;
  if (e === null || typeof e !== 'object' || typeof e.once !== 'function' || typeof e.off !== 'function') {
    throw new TypeError(`waitForEvent: emitter must be an EventEmitter, got ${describe(emitter)}`);
  }
  if (typeof event !== 'string' && typeof event !== 'symbol') {
    throw new TypeError(`waitForEvent: event must be a string or symbol, got ${describe(event)}`);
  }
  if (onCancel !== undefined && typeof onCancel !== 'function') {
    throw new TypeError(`waitForEvent: onCancel must be a function, got ${describe(onCancel)}`);
  }
  let wait: Wait | undefined;
  const onEvent = (value: unknown): void => {
    cleanup();
    wait?.reschedule({ value });
  };
  const onError = (error: unknown): void => {
    cleanup();
    wait?.reschedule({ error });
  };
  const cleanup = (): void => {
    emitter.off(event, onEvent);
    emitter.off('error', onError);
  };
  // Listen first: if the emitter throws here, the task has not blocked and nothing is left behind.
  emitter.once(event, onEvent);
  try {
    emitter.once('error', onError);
  } catch (error) {
    cleanup();
    throw error;
  }
  wait = blockTask(ctx, () => {
    cleanup();
    onCancel?.();
    return Abort.SUCCEEDED;
  }, typeof what === 'string' ? what : `waitForEvent(${String(event)})`);
  return wait.promise as Promise<T>;
}
