/** Shared test helpers: every timed test runs on a MockClock with autojump, under a deadline. */
import type { AddressInfo } from 'node:net';
import type { Cancelled } from 'triode';
import { CancelScope, checkpoint, failAfter, openTcpListeners, openTcpStream, run, WorkerPool, type SocketListener, type SocketStream } from 'triode';
import { MockClock } from 'triode/testing';

/** Virtual ms after which a blocked test fails instead of hanging. */
export const HANG_MS = 3_600_000;

/**
 * Wraps a test body: it runs in a fresh run on a MockClock that autojumps, under
 * `failAfter(HANG_MS)`, so a deadlock fails with TooSlowError instead of stalling the suite.
 */
export function mock<T>(fn: (clock: MockClock) => Promise<T>): () => Promise<T> {
  return () => {
    const clock = new MockClock({ autojumpThreshold: 0 });
    return run(() => failAfter(HANG_MS, () => fn(clock)), { clock });
  };
}

/** A real `Cancelled` (user code cannot construct one): raised by a checkpoint in a cancelled scope. */
export async function cancelledError(reason?: string): Promise<Cancelled> {
  return run(async () => {
    let caught: unknown;
    const scope = new CancelScope();
    await scope.run(async () => {
      scope.cancel(reason);
      try {
        await checkpoint();
      } catch (error) {
        caught = error;
      }
    });
    return caught as Cancelled;
  });
}

/** Rejects with the error `promise` rejected with, or throws if it resolved. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Connects a client with `connect`, accepts it on `listener`, closes the listener: a stream pair. */
export async function socketPair(listener: SocketListener, connect: () => Promise<SocketStream>): Promise<[SocketStream, SocketStream]> {
  try {
    const client = await connect();
    return [client, await listener.accept()];
  } finally {
    await listener.aclose();
  }
}

/** A connected TCP pair over 127.0.0.1: [client, server]. */
export async function tcpPair(): Promise<[SocketStream, SocketStream]> {
  const [listener] = await openTcpListeners(0, { host: '127.0.0.1' });
  return socketPair(listener!, () => openTcpStream('127.0.0.1', (listener!.address() as AddressInfo).port));
}

/** Runs `fn` in a run with a pool of its own (`maxThreads` threads), closed afterwards. */
export function withPool<T>(maxThreads: number, fn: (pool: WorkerPool) => Promise<T>): Promise<T> {
  return run(async () => {
    const pool = new WorkerPool({ maxThreads });
    try {
      return await fn(pool);
    } finally {
      await pool.close();
    }
  });
}
