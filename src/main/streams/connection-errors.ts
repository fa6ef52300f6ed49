/**
 * Errors a connection raises about itself: the peer reset it, vanished, or sent TLS garbage
 * (`BrokenResourceError`), or the handler closed it (`ClosedResourceError`). Streams make them
 * here so that a server can tell them from every other error a handler may raise: such an error
 * ends that connection's handler only (DESIGN §4, servers), anything else still propagates.
 */
import { BrokenResourceError, ClosedResourceError, ExceptionGroup } from '../../shared/errors.js';

const connectionErrors = new WeakSet<object>();

/** A `BrokenResourceError` raised by a connection about itself. */
export function brokenConnection(message: string, options?: ErrorOptions): BrokenResourceError {
  const error = new BrokenResourceError(message, options);
  connectionErrors.add(error);
  return error;
}

/** A `ClosedResourceError` raised by a connection that was closed. */
export function closedConnection(message: string): ClosedResourceError {
  const error = new ClosedResourceError(message);
  connectionErrors.add(error);
  return error;
}

/** True when `error` is a connection's own error, or a group holding only such errors. */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof ExceptionGroup) return error.errors.every(isConnectionError);
  return typeof error === 'object' && error !== null && connectionErrors.has(error);
}
