/**
 * A triode task: one async function running under a nursery. The object is what
 * `lowlevel.currentTask()` returns and what instruments see; the code itself is an ordinary
 * async function whose context (see `context.ts`) points here.
 */
import type { CancelStatus } from './cancel-status.js';
import type { Clock } from './clock.js';
import type { DeadlineEntry, DeadlineOwner } from './deadlines.js';

/*
 * The plain data types at the bottom of the core. They name what they need of the layers above
 * them through the narrow interfaces below (a run, a nursery, a wait), which those layers
 * implement: so this file imports nothing above it, and each layer reads on its own.
 */

/** What a task's code and the core's primitives need of the run: clock, deadlines, bookkeeping. */
export interface RunHost {
  readonly clock: Clock;
  /** True once the run is over (its tasks can no longer be scheduled). */
  readonly finished: boolean;
  readonly rootTask: Task;
  /** `RunVar` values of this run. */
  readonly runVars: Map<object, unknown>;
  addDeadline(deadline: number, owner: DeadlineOwner): DeadlineEntry;
  removeDeadline(entry: DeadlineEntry): void;
  taskSpawned(task: Task): void;
  taskBlocked(task: Task): void;
  taskUnblocked(task: Task): void;
  /** A task woken from outside the run (another thread): instruments hear of it, nothing else. */
  taskScheduledFromOutside(task: Task): void;
  taskExited(task: Task): void;
}

/** A nursery as its tasks and the task dump see it (nursery.ts's Nursery). */
export interface TaskNursery {
  readonly parentTask: Task;
  readonly childTasks: Task[];
  /** @internal the cancel status its children run under. */
  readonly status: CancelStatus;
  /** @internal a child task finished, with `error` if it failed. */
  childExited(task: Task, error: unknown): void;
}

/** A wait a task is blocked in, as the task dump sees it (traps.ts's Wait). */
export interface TaskWait {
  /** What the task is blocked in. */
  readonly what: string;
  /** What the wait looks like now (a worker call: queued, or on which thread). */
  readonly detail: { describe(): string } | undefined;
  /** The cancel status the wait is registered under. */
  readonly status: CancelStatus;
  /** Free for the blocking primitive's use (Trio's `Task.custom_sleep_data`). */
  customSleepData: unknown;
}

/** The task and cancel status some code runs under (see context.ts). */
export interface Context {
  readonly task: Task;
  /**
   * Mutable only for a task's root context: `nursery.start()` moves a task into another nursery
   * when it calls `started()`, which changes the status its top-level code runs under.
   */
  status: CancelStatus;
}

let nextTaskId = 0;

export class Task {
  readonly id = nextTaskId++;
  /** Defaults to the task function's name. */
  name: string;
  /** The nursery this task is a child of (`undefined` for the run's root task). */
  parentNursery: TaskNursery | undefined;
  /** @internal links in the parent nursery's list of children (see nursery.ts) */
  prevSibling: Task | undefined = undefined;
  /** @internal */
  nextSibling: Task | undefined = undefined;
  private openNurseries: TaskNursery[] | undefined;
  /**
   * Parking lots to break when this task exits (Trio's parking-lot breakers): a Lock registers
   * its lot while this task owns it, so waiters learn that the owner died holding it.
   */
  lotBreakers: Set<{ breakLot(task?: Task): void }> | undefined;
  /** The wait this task is blocked in, if any (see `traps.ts`). */
  wait: TaskWait | undefined = undefined;
  /** Counters for `assertCheckpoints`: every checkpoint and every wait bumps both. */
  cancelPoints = 0;
  schedulePoints = 0;
  /** TaskLocal values. Shared copy-on-write with the task that spawned it (see task-local.ts). */
  locals: Map<object, unknown>;
  localsShared: boolean;
  /**
   * The cancel status the task's top-level code runs under. The task is its own root context
   * (`{ task, status }`, see context.ts), which saves an object per task; `nursery.start()`
   * changes `status` when it moves the task into another nursery.
   */
  status: CancelStatus;
  /** True when `status` is the task's own node (a task being started), detached when it exits. */
  ownsStatus = false;

  constructor(
    readonly runner: RunHost,
    name: string,
    parentNursery: TaskNursery | undefined,
    locals: Map<object, unknown>,
    status: CancelStatus,
  ) {
    this.name = name;
    this.parentNursery = parentNursery;
    this.locals = locals;
    this.localsShared = true;
    this.status = status;
  }

  /** The task itself, so that a Task is a `Context`. */
  get task(): Task {
    return this;
  }

  /** The context the task's top-level code runs in. */
  get rootContext(): Context {
    return this;
  }

  /** Nurseries opened by this task and still open, outermost first. */
  get childNurseries(): TaskNursery[] {
    return this.openNurseries === undefined ? [] : this.openNurseries.slice();
  }

  /** @internal */
  nurseryOpened(nursery: TaskNursery): void {
    (this.openNurseries ??= []).push(nursery);
  }

  /** @internal */
  nurseryClosed(nursery: TaskNursery): void {
    const list = this.openNurseries;
    if (list === undefined) return;
    const i = list.lastIndexOf(nursery);
    if (i >= 0) list.splice(i, 1);
  }

  toString(): string {
    return `<Task ${this.name}#${this.id}>`;
  }
}
