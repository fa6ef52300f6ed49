/**
 * Servers: `serveListeners` accepts on listeners forever and runs a handler task per
 * connection; `serveTcp` and `serveUnix` open the listeners first. Under `nursery.start` they
 * resolve with the listeners once accepting has begun, so port 0 works:
 *
 * ```ts
 * const [listener] = await nursery.start(serveTcp, handler, 0, { host: '127.0.0.1' });
 * const { port } = listener.address() as AddressInfo;
 * ```
 */
import { isCancellation } from '../../shared/errors.js';
import { Nursery, TASK_STATUS_IGNORED, openNursery, type TaskStatus } from '../core/nursery.js';
import { checkpointIfCancelled } from '../core/checkpoint.js';
import { sleep } from '../core/sleep.js';
import { checkFunction, checkInteger, checkOptions, describe } from '../core/validate.js';
import { CapacityLimiter } from '../sync/capacity-limiter.js';
import { isConnectionError } from './connection-errors.js';
import type { AsyncResource, Listener } from './abc.js';
import { acloseForcefully } from './aclose-forcefully.js';

export interface ServeListenersOptions {
  /** Where the handler tasks run (default: a nursery inside the server). */
  handlerNursery?: Nursery;
  /**
   * Called with an accept error the server survives (out of file descriptors or memory) before
   * it waits 100 ms and accepts again. Default: `console.error`.
   */
  onAcceptError?: (error: Error) => void;
  /**
   * At most this many handlers run at once: accepting stops while that many run, and the
   * connections that arrive meanwhile wait in the listener's backlog. Default: no limit.
   */
  maxConnections?: number;
}

/** Accept errors that mean "the machine is short of something right now": log, wait, retry. */
const TRANSIENT_ACCEPT_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS']);
const ACCEPT_RETRY_MS = 100;

/** True for a `TaskStatus` passed where options were expected (`nursery.start(serve, h, port)`). */
function isTaskStatus(value: unknown): value is TaskStatus<never> {
  return typeof (value as TaskStatus | null)?.started === 'function';
}

/**
 * Splits the trailing `(options, taskStatus)` arguments: `nursery.start` appends the task
 * status after the arguments it was given, so it may arrive in the options position.
 */
export function optionsAndStatus<O extends object, T>(
  where: string,
  options: O | TaskStatus<T> | undefined,
  taskStatus: TaskStatus<T> | undefined,
): [Partial<O>, TaskStatus<T>] {
  if (isTaskStatus(options)) return [{}, options as TaskStatus<T>];
  return [checkOptions(where, options as Partial<O> | undefined), taskStatus ?? (TASK_STATUS_IGNORED as TaskStatus<T>)];
}

async function serveOne<S extends AsyncResource>(
  listener: Listener<S>,
  handlerNursery: Nursery,
  handler: (stream: S) => unknown,
  onAcceptError: (error: Error) => void,
  slots: CapacityLimiter | undefined,
): Promise<never> {
  try {
    for (;;) {
      // One slot per running handler, taken before accepting: at the limit, accepting pauses.
      const slot = slots === undefined ? undefined : {};
      if (slot !== undefined) await slots!.acquireOnBehalfOf(slot);
      let stream: S;
      try {
        stream = await listener.accept();
      } catch (error) {
        if (slot !== undefined) slots!.releaseOnBehalfOf(slot);
        const code = (error as NodeJS.ErrnoException | null)?.code;
        if (isCancellation(error) || code === undefined || !TRANSIENT_ACCEPT_ERRORS.has(code)) throw error;
        onAcceptError(error as Error);
        await sleep(ACCEPT_RETRY_MS);
        continue;
      }
      try {
        handlerNursery.startSoon(runHandler<S>, handler, stream, slot === undefined ? undefined : () => slots!.releaseOnBehalfOf(slot));
      } catch (error) {
        if (slot !== undefined) slots!.releaseOnBehalfOf(slot);
        await acloseForcefully(stream);
        throw error;
      }
    }
  } finally {
    await acloseForcefully(listener);
  }
}

/**
 * One connection's handler. Its own connection failing (the peer reset it, vanished mid-TLS
 * handshake, sent garbage) ends this handler only: one bad client must not end the server.
 */
async function runHandler<S extends AsyncResource>(
  handler: (stream: S) => unknown,
  stream: S,
  releaseSlot: (() => void) | undefined,
): Promise<void> {
  try {
    await handler(stream);
  } catch (error) {
    if (!isConnectionError(error)) throw error;
  } finally {
    releaseSlot?.();
    await acloseForcefully(stream);
  }
}

/** Checks the serving options; returns the limiter for `maxConnections`, if any. */
function checkServeOptions(opts: Partial<ServeListenersOptions>): CapacityLimiter | undefined {
  if (opts.onAcceptError !== undefined) checkFunction('serveListeners', 'options.onAcceptError', opts.onAcceptError);
  if (opts.handlerNursery !== undefined && !(opts.handlerNursery instanceof Nursery)) {
    throw new TypeError(`serveListeners: options.handlerNursery must be a Nursery, got ${describe(opts.handlerNursery)}`);
  }
  if (opts.maxConnections === undefined) return undefined;
  return new CapacityLimiter(checkInteger('serveListeners', 'options.maxConnections', opts.maxConnections, 1));
}

/**
 * Accepts connections on every listener and runs `handler(stream)` for each in its own task
 * (in `handlerNursery`, or a nursery of its own), closing the stream when the handler returns.
 * Never returns; cancel it to stop, which closes the listeners. Transient accept errors
 * (EMFILE, ENFILE, ENOMEM, ENOBUFS) are reported to `onAcceptError` and retried after 100 ms;
 * any other accept error ends the server with that error. A handler that fails because its own
 * connection broke or was closed (`BrokenResourceError` / `ClosedResourceError` raised by that
 * stream: a reset, a client gone mid-handshake) ends quietly; any other handler error ends the
 * server. `maxConnections` caps the handlers running at once.
 * Under `nursery.start` it resolves with `listeners` once it is accepting.
 */
export async function serveListeners<S extends AsyncResource, L extends Listener<S>>(
  handler: (stream: S) => unknown,
  listeners: L[],
  options?: ServeListenersOptions | TaskStatus<L[]>,
  taskStatus?: TaskStatus<L[]>,
): Promise<never> {
  if (!Array.isArray(listeners) || listeners.some((l) => typeof (l as unknown as Listener<S> | null)?.accept !== 'function')) {
    throw new TypeError('serveListeners: listeners must be an array of Listener objects');
  }
  let opts: Partial<ServeListenersOptions>;
  let status: TaskStatus<L[]>;
  let slots: CapacityLimiter | undefined;
  try {
    checkFunction('serveListeners', 'handler', handler);
    [opts, status] = optionsAndStatus<ServeListenersOptions, L[]>('serveListeners', options, taskStatus);
    slots = checkServeOptions(opts);
    await checkpointIfCancelled();
  } catch (error) {
    // The listeners were handed over to be served and closed: bad options (or a cancelled
    // caller) close them too.
    for (const listener of listeners) await acloseForcefully(listener);
    throw error;
  }
  const onAcceptError =
    opts.onAcceptError ?? ((error: Error) => console.error(`triode: accept failed (${error.message}); retrying in ${ACCEPT_RETRY_MS} ms`));
  return openNursery<never>(async (nursery) => {
    const handlerNursery = opts.handlerNursery ?? nursery;
    for (const listener of listeners) nursery.startSoon(serveOne<S>, listener, handlerNursery, handler, onAcceptError, slots);
    status.started(listeners);
    return undefined as never;
  });
}
