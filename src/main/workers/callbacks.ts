/**
 * Calls from a worker back to the main thread (Trio's `from_thread.run`).
 *
 * `workerCallback(fn)` marks a function so it can be passed as an argument of a worker call. In
 * the worker it arrives as an async function; calling it runs `fn` on the main thread as a task
 * of the calling task (inside its cancel scopes) and resolves with `fn`'s result or rejects with
 * its error. The transport is comlink over a MessagePort made for the call; the port is closed
 * and the worker's proxy released when the call ends, so nothing outlives it.
 */
import { MessageChannel, type MessagePort, type TransferListItem } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { CALLBACK_WIRE_KEY, type CallbackWire } from '../../shared/callback-wire.js';
import { errorToWire } from '../../shared/error-wire.js';
import type { Nursery } from '../core/nursery.js';
import { checkFunction } from '../core/validate.js';

const MARK = Symbol.for('triode.workerCallback');

type AnyFunction = (...args: never[]) => unknown;
type Marked = AnyFunction & { [MARK]: AnyFunction };

/**
 * Wraps `fn` so a worker can call it. On the main thread the result is just `fn` made async.
 *
 * ```ts
 * let done = 0;
 * await runInWorker(hashModule, 'hashFile', [path, workerCallback((bytes: number) => { done += bytes; })]);
 * ```
 */
export function workerCallback<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): (...args: A) => Promise<Awaited<R>> {
  checkFunction('workerCallback', 'fn', fn);
  const marked = (async (...args: A) => fn(...args)) as unknown as Marked & ((...args: A) => Promise<Awaited<R>>);
  Object.defineProperty(marked, MARK, { value: fn });
  return marked;
}

export function isWorkerCallback(value: unknown): value is Marked {
  return typeof value === 'function' && MARK in value;
}

export interface PreparedCallbacks {
  readonly args: unknown[];
  readonly transfer: TransferListItem[];
  close(): void;
}

/**
 * Replaces each callback argument with a port the worker can call it through. Calls run as tasks
 * of `nursery` (the calling task's), and their errors go back to the worker, not to the nursery.
 */
export function prepareCallbacks(args: unknown[], nursery: Nursery): PreparedCallbacks {
  const ports: MessagePort[] = [];
  const transfer: TransferListItem[] = [];
  const wired = args.map((arg) => {
    if (!isWorkerCallback(arg)) return arg;
    const fn = arg[MARK] as (...a: unknown[]) => unknown;
    const { port1, port2 } = new MessageChannel();
    const handler = (...callArgs: unknown[]) =>
      new Promise((resolve, reject) => {
        nursery.startSoon(async () => {
          try {
            resolve(await fn(...callArgs));
          } catch (error) {
            // In our wire form, so the worker rethrows it with its class (comlink keeps only Error).
            reject(errorToWire(error));
          }
        });
      });
    Comlink.expose(handler, port1 as unknown as Comlink.Endpoint);
    ports.push(port1);
    transfer.push(port2);
    return { [CALLBACK_WIRE_KEY]: true, port: port2 } satisfies CallbackWire;
  });
  return {
    args: wired,
    transfer,
    close() {
      for (const port of ports) port.close();
    },
  };
}
