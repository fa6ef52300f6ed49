/**
 * Checkpoints: the points where a task may be cancelled and where other tasks get to run.
 *
 * A checkpoint raises `Cancelled` if the code calling it is effectively cancelled, and otherwise
 * yields. Most yields are one microtask (as cheap as `await null`); every 1,024th goes through the
 * event loop (`setImmediate`), so a CPU-bound loop that checkpoints still lets timers and I/O run,
 * and therefore lets a deadline cancel it.
 */
import { currentContext } from './context.js';

const MACROTASK_EVERY = 1024;
let checkpointsSinceMacrotask = 0;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
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
  const task = ctx.task;
  task.cancelPoints++;
  task.schedulePoints++;
  if (ctx.status.effectivelyCancelled) throw ctx.status.makeCancelled();
  if (++checkpointsSinceMacrotask >= MACROTASK_EVERY) {
    checkpointsSinceMacrotask = 0;
    await yieldToEventLoop();
  } else {
    await undefined;
  }
  if (ctx.status.effectivelyCancelled) throw ctx.status.makeCancelled();
}

/**
 * Raises `Cancelled` if the surrounding scope was cancelled; otherwise returns without yielding.
 * A cancel point but not a schedule point.
 */
export async function checkpointIfCancelled(): Promise<void> {
  const ctx = currentContext('checkpointIfCancelled');
  ctx.task.cancelPoints++;
  if (ctx.status.effectivelyCancelled) throw ctx.status.makeCancelled();
}

/** @internal yields without checking for cancellation (Trio's cancel_shielded_checkpoint). */
export async function cancelShieldedCheckpoint(): Promise<void> {
  const ctx = currentContext('cancelShieldedCheckpoint');
  ctx.task.schedulePoints++;
  if (++checkpointsSinceMacrotask >= MACROTASK_EVERY) {
    checkpointsSinceMacrotask = 0;
    await yieldToEventLoop();
  } else {
    await undefined;
  }
}
