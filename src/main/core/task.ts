/**
 * A triode task: one async function running under a nursery. The object is what
 * `lowlevel.currentTask()` returns and what instruments see; the code itself is an ordinary
 * async function whose context (see `context.ts`) points here.
 */
import type { CancelStatus } from './cancel-status.js';
import type { Context } from './context.js';
import type { Nursery } from './nursery.js';
import type { Runner } from './runner.js';
import type { Wait } from './traps.js';

let nextTaskId = 0;

export class Task {
  readonly id = nextTaskId++;
  /** Defaults to the task function's name. */
  name: string;
  /** The nursery this task is a child of (`undefined` for the run's root task). */
  parentNursery: Nursery | undefined;
  /** @internal links in the parent nursery's list of children (see nursery.ts) */
  prevSibling: Task | undefined = undefined;
  /** @internal */
  nextSibling: Task | undefined = undefined;
  private openNurseries: Nursery[] | undefined;
  /**
   * Parking lots to break when this task exits (Trio's parking-lot breakers): a Lock registers
   * its lot while this task owns it, so waiters learn that the owner died holding it.
   */
  lotBreakers: Set<{ breakLot(task?: Task): void }> | undefined;
  /** The wait this task is blocked in, if any (see `traps.ts`). */
  wait: Wait | undefined = undefined;
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
    readonly runner: Runner,
    name: string,
    parentNursery: Nursery | undefined,
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
  get childNurseries(): Nursery[] {
    return this.openNurseries === undefined ? [] : this.openNurseries.slice();
  }

  /** @internal */
  nurseryOpened(nursery: Nursery): void {
    (this.openNurseries ??= []).push(nursery);
  }

  /** @internal */
  nurseryClosed(nursery: Nursery): void {
    const list = this.openNurseries;
    if (list === undefined) return;
    const i = list.lastIndexOf(nursery);
    if (i >= 0) list.splice(i, 1);
  }

  toString(): string {
    return `<Task ${this.name}#${this.id}>`;
  }
}
