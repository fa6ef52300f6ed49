/**
 * The module every pool thread loads (piscina's `filename`). For each job it loads the user's
 * module, calls the export, and answers `{ ok, value }` or `{ ok: false, error }` — it never
 * throws, so a rejection seen by the main thread always means the thread itself failed.
 *
 * An async export runs inside its own triode `run()`, in a cancel scope that is cancelled when
 * the calling task is (an `Atomics.waitAsync` on the call's cancel word), so all of triode works
 * inside it. A sync export runs bare (a run costs more than a trivial call) and notices
 * cancellation through `checkpoint()` / `sleepSync()` from `triode/worker`.
 */
import { Cancelled } from '../shared/errors.js';
import * as Comlink from 'comlink';
import { workerData } from 'piscina';
import { isCallbackWire } from '../shared/callback-wire.js';
import { whyUncloneable } from '../shared/cloneable.js';
import { errorFromWire, errorToWire } from '../shared/error-wire.js';
import {
  isCancelledWord,
  markRunning,
  RUNNING,
  setCurrentCall,
  type CancelWord,
  type WorkerJob,
  type WorkerJobResult,
} from '../shared/worker-call.js';
import { CancelScope } from '../main/core/cancel-scope.js';
import { run } from '../main/core/runner.js';
import { loadExport } from './load-export.js';
import { endpointFromWire, isSharedChannelWire } from '../main/channels/shared-channel.js';

type AnyFunction = (...args: unknown[]) => unknown;

/** The pool's block of cancel words, sent once to this thread as piscina's workerData. */
function poolCancelWords(): Int32Array {
  return (workerData as { cancelWords: Int32Array }).cancelWords;
}

function isAsyncFunction(fn: AnyFunction): boolean {
  return fn.constructor?.name === 'AsyncFunction';
}

async function runAsync(fn: AnyFunction, args: unknown[], word: CancelWord): Promise<unknown> {
  return run(async () => {
    const scope = new CancelScope();
    scope.label = 'worker call';
    const waiting = Atomics.waitAsync(word.words, word.index, RUNNING);
    if (!waiting.async || isCancelledWord(word)) {
      scope.cancel('the calling task was cancelled');
    } else {
      void waiting.value.then(() => {
        if (isCancelledWord(word)) scope.cancel('the calling task was cancelled');
      });
    }
    try {
      const value = await scope.run(() => fn(...args));
      if (scope.cancelledCaught) throw new Cancelled('the calling task was cancelled');
      return value;
    } finally {
      // Release our own Atomics.waitAsync so no waiter outlives the call.
      Atomics.notify(word.words, word.index);
    }
  });
}

/** Turns each callback port into an async function that calls the main thread through comlink. */
function wireCallbacks(args: unknown[], cleanups: Array<() => void>): unknown[] {
  return args.map((arg) => {
    if (isSharedChannelWire(arg)) {
      // A live endpoint of the caller's channel; closed for the worker when the call ends.
      const endpoint = endpointFromWire(arg);
      cleanups.push(() => endpoint.close());
      return endpoint;
    }
    if (!isCallbackWire(arg)) return arg;
    const remote = Comlink.wrap<(...a: unknown[]) => unknown>(arg.port as unknown as Comlink.Endpoint);
    cleanups.push(() => {
      remote[Comlink.releaseProxy]();
      arg.port.close();
    });
    return async (...callArgs: unknown[]) => {
      try {
        return await remote(...callArgs);
      } catch (error) {
        throw errorFromWire(error, 'at a main-thread callback');
      }
    };
  });
}

export default async function triodeWorkerEntry(job: WorkerJob): Promise<WorkerJobResult> {
  const word: CancelWord = { words: job.cancelWords ?? poolCancelWords(), index: job.cancelIndex };
  // Cancelled while queued: the caller has already moved on; never start the call.
  if (!markRunning(word)) return { ok: false, error: errorToWire(new Cancelled('cancelled before it started')) };
  const cleanups: Array<() => void> = [];
  setCurrentCall({ cancelWord: word });
  try {
    const fn = await loadExport(job.url, job.exportName);
    const args = wireCallbacks(job.args, cleanups);
    const value = isAsyncFunction(fn) ? await runAsync(fn, args, word) : await fn(...args);
    const why = whyUncloneable(value, 'its result');
    if (why !== undefined) {
      throw new TypeError(`${job.exportName} returned a value that cannot be sent back to the calling thread: ${why}`);
    }
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: errorToWire(error) };
  } finally {
    setCurrentCall(undefined);
    for (const cleanup of cleanups) cleanup();
  }
}
