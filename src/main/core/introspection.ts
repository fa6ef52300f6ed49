/**
 * Introspection of the current run: the current task, the root task, system tasks,
 * instruments, statistics.
 */
import { currentContext } from './context.js';
import { checkInstrument, type Instrument } from './instruments.js';
import { runnerOf } from './runner.js';
import type { Task } from './task.js';
import type { TrioToken } from './trio-token.js';
import { checkFunction } from './validate.js';

/** The task running the calling code. Not a checkpoint. */
export function currentTask(): Task {
  return currentContext('currentTask').task;
}

/** The run's root task (the ancestor of every task in the run). Not a checkpoint. */
export function currentRootTask(): Task {
  return currentContext('currentRootTask').task.runner.rootTask;
}

/**
 * Starts `fn(...args)` as a system task: a child of the run's system nursery, outside the main
 * task's cancel scopes, cancelled when the main task finishes. An error in it (other than
 * `Cancelled`) crashes the run with `TriodeInternalError`. Not a checkpoint.
 */
export function spawnSystemTask<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Task {
  checkFunction('spawnSystemTask', 'fn', fn);
  const runner = runnerOf(currentContext('spawnSystemTask').task);
  return runner.spawnSystemTask(fn as (...args: unknown[]) => unknown, args);
}

/** Installs an instrument for the rest of the current run. */
export function addInstrument(instrument: Instrument): void {
  const runner = runnerOf(currentContext('addInstrument').task);
  checkInstrument('addInstrument', instrument);
  if (!runner.instruments.includes(instrument)) runner.instruments.push(instrument);
}

/** Removes an instrument; throws an Error if it is not installed. */
export function removeInstrument(instrument: Instrument): void {
  const runner = runnerOf(currentContext('removeInstrument').task);
  const i = runner.instruments.indexOf(instrument);
  if (i < 0) throw new Error('removeInstrument: that instrument is not installed in this run');
  runner.instruments.splice(i, 1);
}

export interface RunStatistics {
  /** Tasks alive in the run, the root task included. */
  tasksLiving: number;
  /** Tasks not blocked in a triode wait (running, about to run, or awaiting foreign promises). */
  tasksRunnable: number;
  /** Ms from now to the earliest deadline on the run's clock; Infinity when none. */
  msToNextDeadline: number;
}

/** Statistics of the current run. Not a checkpoint. */
export function currentStatistics(): RunStatistics {
  const runner = runnerOf(currentContext('currentStatistics').task);
  return {
    tasksLiving: runner.liveTasks,
    tasksRunnable: runner.liveTasks - runner.blockedTasks,
    msToNextDeadline: runner.nextDeadline() - runner.clock.currentTime(),
  };
}

/** The current run's token (the same object for every call in one run). Not a checkpoint. */
export function currentTrioToken(): TrioToken {
  return runnerOf(currentContext('currentTrioToken').task).trioToken();
}
