/**
 * Where the current task and cancel status live: one AsyncLocalStorage per thread.
 *
 * A store `{ task, status }` is entered when a task starts and when a cancel scope's body starts;
 * async/await carries it through every continuation, so any triode primitive can find the task
 * that called it and the innermost cancel status it runs under.
 *
 * The storage is a process-wide singleton on `globalThis`: the package ships ESM and CJS builds,
 * and a program that loads both must still see one runtime (the "dual package hazard").
 *
 * Outside a run triode costs nothing: on Node < 24 an enabled AsyncLocalStorage keeps a promise
 * hook installed that makes every promise in the process ~3× dearer, so the storage is disabled
 * when the last run on the thread ends (`runEnded`) and re-enabled by the next `storage.run`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from './task.js';

export type { Context } from './task.js';

const ALS_KEY = Symbol.for('triode.asyncLocalStorage');
type GlobalWithStorage = typeof globalThis & { [ALS_KEY]?: AsyncLocalStorage<Context> };
const g = globalThis as GlobalWithStorage;

export const storage: AsyncLocalStorage<Context> = (g[ALS_KEY] ??= new AsyncLocalStorage<Context>());

const RUNS_KEY = Symbol.for('triode.activeRuns');
type GlobalWithRuns = typeof globalThis & { [RUNS_KEY]?: { count: number } };
const activeRuns = ((globalThis as GlobalWithRuns)[RUNS_KEY] ??= { count: 0 });

/** A run starts on this thread (its first `storage.run` enables the storage). */
export function runStarted(): void {
  activeRuns.count++;
}

/** A run ended: when it was the last one, the storage (and its promise hook) is switched off. */
export function runEnded(): void {
  if (--activeRuns.count === 0) storage.disable();
}

/** The current task's context, or throws the "outside of triode.run" error. */
export function currentContext(what = 'this function'): Context {
  const ctx = storage.getStore();
  if (ctx === undefined || ctx.task.runner.finished) {
    throw new Error(
      ctx === undefined
        ? `${what} must be called from inside triode.run() (it was called outside of triode.run)`
        : `${what} was called after its triode.run() finished (outside of triode.run)`,
    );
  }
  return ctx;
}

/** The current context, or undefined outside a run (never throws). */
export function peekContext(): Context | undefined {
  const ctx = storage.getStore();
  return ctx === undefined || ctx.task.runner.finished ? undefined : ctx;
}
