/**
 * `fsCall`: how every file operation meets cancellation.
 *
 * Node's `fs.promises` runs each operation on libuv's thread pool, so none blocks the event loop;
 * only some accept an AbortSignal. An abortable operation is given `currentAbortSignal()` and
 * stops when the caller is cancelled (raising `Cancelled`). Any other operation cannot be
 * stopped once started: it completes, and then `Cancelled` is raised if the caller was
 * cancelled meanwhile — the operation's effect (a file written, renamed, removed) has happened.
 */
import { Cancelled } from '../../shared/errors.js';
import { cancelPoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';

/**
 * Runs `op(signal)`: a cancel point before; the wait for the thread pool is the schedule point
 * (the event loop runs meanwhile); a cancel point after.
 */
export async function fsCall<T>(where: string, op: (signal: AbortSignal | undefined) => Promise<T>, abortable = false): Promise<T> {
  const ctx = currentContext(where);
  cancelPoint(ctx);
  let result: T;
  try {
    result = await op(abortable ? ctx.status.signal() : undefined);
  } catch (error) {
    // An aborted fs call rejects with an AbortError whose cause is our Cancelled: raise that.
    const cause = (error as { cause?: unknown } | null)?.cause;
    if ((error as Error | null)?.name === 'AbortError' && cause instanceof Cancelled) throw cause;
    throw error;
  }
  ctx.task.schedulePoints++;
  cancelPoint(ctx);
  return result;
}
