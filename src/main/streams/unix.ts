/** Unix domain sockets: `openUnixSocket`, `openUnixListener`, `serveUnix` (Trio has only the first). */
import type { TaskStatus } from '../core/nursery.js';
import { currentContext } from '../core/context.js';
import { checkInteger, describe, checkOptions } from '../core/validate.js';
import { optionsAndStatus, serveListeners, type ServeListenersOptions } from './serve.js';
import { DEFAULT_BACKLOG, listen, type SocketListener } from './socket-listener.js';
import { connectSocket, type SocketStream } from './socket-stream.js';

function checkPath(where: string, path: unknown): string {
  if (typeof path !== 'string' || path === '') throw new TypeError(`${where}: path must be a non-empty string, got ${describe(path)}`);
  return path;
}

/**
 * Connects to the Unix domain socket at `path`. A checkpoint; cancellation abandons the
 * connection attempt.
 */
export async function openUnixSocket(path: string): Promise<SocketStream> {
  checkPath('openUnixSocket', path);
  currentContext('openUnixSocket');
  return connectSocket({ path }, 'openUnixSocket');
}

export interface UnixListenerOptions {
  /** The listen backlog, and how many accepted connections may wait for `accept()`. Default 511. */
  backlog?: number;
}

/**
 * Listens on a Unix domain socket at `path` (which must not exist; Node removes the socket file
 * when the listener closes). A checkpoint.
 */
export async function openUnixListener(path: string, options: UnixListenerOptions = {}): Promise<SocketListener> {
  options = checkOptions('openUnixListener', options);
  checkPath('openUnixListener', path);
  const backlog = checkInteger('openUnixListener', 'backlog', options.backlog ?? DEFAULT_BACKLOG, 1);
  currentContext('openUnixListener');
  return listen({ path }, backlog);
}

export type ServeUnixOptions = UnixListenerOptions & ServeListenersOptions;

/**
 * `serveListeners(handler, [await openUnixListener(path)])`. Under `nursery.start` it resolves
 * with the one-listener array.
 */
export async function serveUnix(
  handler: (stream: SocketStream) => unknown,
  path: string,
  options?: ServeUnixOptions | TaskStatus<SocketListener[]>,
  taskStatus?: TaskStatus<SocketListener[]>,
): Promise<never> {
  const [opts, status] = optionsAndStatus<ServeUnixOptions, SocketListener[]>('serveUnix', options, taskStatus);
  const listener = await openUnixListener(path, opts);
  return serveListeners(handler, [listener], opts, status);
}
