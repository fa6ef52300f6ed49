/**
 * Instruments: objects a run calls at points of interest, for tracing and metrics.
 *
 * An instrument that throws is removed and the error is reported as a process warning; the run
 * goes on. `beforeTaskStep` / `afterTaskStep` are not offered: a task's steps are native promise
 * continuations that triode does not see one by one, and a hook that fired on only some steps
 * would mislead.
 */
import type { Task } from './task.js';

export interface Instrument {
  /** The run is starting (before the main task is spawned). */
  beforeRun?(): void;
  /** The run has finished (every task has exited). */
  afterRun?(): void;
  /** A task was created (it starts soon). */
  taskSpawned?(task: Task): void;
  /** A blocked task was rescheduled: it will run again soon. */
  taskScheduled?(task: Task): void;
  /** A task's function finished. */
  taskExited?(task: Task): void;
}

export type InstrumentHook = keyof Instrument;

export function checkInstrument(where: string, instrument: unknown): Instrument {
  if (instrument === null || typeof instrument !== 'object') {
    throw new TypeError(`${where}: an instrument must be an object with hook methods`);
  }
  return instrument as Instrument;
}

/** Calls `hook` on every instrument; removes (and reports) any that throws. */
export function callInstruments(instruments: Instrument[], hook: InstrumentHook, task?: Task): void {
  for (const instrument of Array.from(instruments)) {
    const method = instrument[hook] as ((task?: Task) => void) | undefined;
    if (typeof method !== 'function') continue;
    try {
      method.call(instrument, task);
    } catch (error) {
      const i = instruments.indexOf(instrument);
      if (i >= 0) instruments.splice(i, 1);
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.emitWarning(`instrument hook ${hook} threw; the instrument was removed`, {
        type: 'TriodeInstrumentWarning',
        detail,
      });
    }
  }
}
