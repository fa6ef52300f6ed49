/**
 * `waitForEvent`: block the current task until a Node event emitter emits one event (or
 * `'error'`). The bridge for one-shot I/O events — a socket connecting, a server listening, a
 * child process spawning — into a cancellable triode wait.
 */
import type { EventEmitter } from 'node:events';
import { currentContext } from '../core/context.js';
import { Abort, blockTask } from '../core/traps.js';

/**
 * Resolves with the first argument of `event`, rejects with the argument of `'error'`. A
 * checkpoint. On cancellation `onCancel()` runs (destroy the half-made resource there), the
 * listeners are removed and `Cancelled` is raised.
 */
export async function waitForEvent<T = unknown>(
  emitter: EventEmitter,
  event: string,
  what: string,
  onCancel?: () => void,
): Promise<T> {
  const ctx = currentContext(what);
  const onEvent = (value: unknown): void => {
    cleanup();
    wait.reschedule({ value });
  };
  const onError = (error: unknown): void => {
    cleanup();
    wait.reschedule({ error });
  };
  const cleanup = (): void => {
    emitter.off(event, onEvent);
    emitter.off('error', onError);
  };
  const wait = blockTask(ctx, () => {
    cleanup();
    onCancel?.();
    return Abort.SUCCEEDED;
  }, what);
  emitter.once(event, onEvent);
  emitter.once('error', onError);
  return wait.promise as Promise<T>;
}
