/**
 * The one way a triode task blocks: `waitTaskRescheduled(abortFn)`.
 *
 * Every blocking primitive (ParkingLot and so every lock, event and channel, `sleep`, a nursery
 * waiting for its children) is a wait that some other code later ends with `reschedule`. The
 * contract is Trio's:
 *
 * - A wait is rescheduled exactly once, with a value or an error.
 * - If the code running the wait is (or becomes) cancelled while blocked, `abortFn(raiseCancel)`
 *   is called once. Returning `Abort.SUCCEEDED` means "I have undone the wait (removed it from my
 *   queue)": triode then reschedules it with `Cancelled`. Returning `Abort.FAILED` means "too
 *   late, or I need to do more first": the wait stays blocked and its owner must reschedule it
 *   later (possibly with the error `raiseCancel` throws).
 *
 * Because a value is only handed over by rescheduling a wait, and a cancelled wait is only ended
 * after its owner agreed, no value is ever lost to a cancellation.
 *
 * A task waits in one place at a time: `Promise.all([a.receive(), b.receive()])` inside one task
 * throws, because the losing branch would keep waiting (and consuming) after nobody listens. Use
 * a nursery for concurrency.
 */
import { TriodeInternalError } from '../../shared/errors.js';
import { currentContext, type Context } from './context.js';
import type { CancelStatus, StatusWait } from './cancel-status.js';
import type { DeadlineOwner } from './deadlines.js';
import type { Task, TaskWait } from './task.js';

/** What an abort function answers. */
export enum Abort {
  /** The wait was undone; triode reschedules it with `Cancelled`. */
  SUCCEEDED = 'SUCCEEDED',
  /** Too late to undo: the wait stays blocked and its owner reschedules it later. */
  FAILED = 'FAILED',
}

/** Throws the `Cancelled` error that the wait's cancellation calls for. */
export type RaiseCancel = () => never;
/** `wait` is the wait being aborted (internal primitives share one abort function and read it). */
export type AbortFn = (raiseCancel: RaiseCancel, wait: Wait) => Abort;

/** How a wait ends: with a value, or with an error that the waiting task then throws. */
export type Outcome<T = unknown> = { readonly value: T } | { readonly error: unknown };

export class Wait implements DeadlineOwner, StatusWait, TaskWait {
  private settled = false;
  private abortFn: AbortFn | undefined;
  private resolve!: (value: unknown) => void;
  private reject!: (error: unknown) => void;
  private readonly settledPromise: Promise<unknown>;
  /** Set when the wait was entered under an already-cancelled status: abort when the task blocks. */
  private abortOnBlock = false;
  /** What the task is blocked in, for `dumpTaskTree`. */
  readonly what: string;
  /** @internal links in the status's list of waits (see cancel-status.ts) */
  prevInStatus: StatusWait | undefined = undefined;
  /** @internal */
  nextInStatus: StatusWait | undefined = undefined;
  /** @internal links in a ParkingLot's queue (see parking-lot.ts) */
  prevInLot: Wait | undefined = undefined;
  /** @internal */
  nextInLot: Wait | undefined = undefined;
  /** What the wait looks like now, for `dumpTaskTree` (a worker call: queued, or on which thread). */
  detail: { describe(): string } | undefined = undefined;
  /** Free for the blocking primitive's use (Trio's `custom_sleep_data`): ParkingLot keeps its lot here. */
  customSleepData: unknown = undefined;

  constructor(
    readonly task: Task,
    public status: CancelStatus,
    abortFn: AbortFn,
    what: string,
    /** Woken by something outside the run (another thread): not "blocked" for idleness. */
    readonly external: boolean,
  ) {
    this.abortFn = abortFn;
    this.what = what;
    this.settledPromise = new Promise<unknown>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /**
   * Settles when the wait is rescheduled. Taking it is where the task blocks (it awaits it next),
   * as Trio's task yields to the scheduler: a wait entered under an already-cancelled status is
   * aborted right here, after the primitive has registered it and before any other code runs,
   * so no other task can end it normally in between (cancellation is level-triggered).
   */
  get promise(): Promise<unknown> {
    if (this.abortOnBlock) {
      this.abortOnBlock = false;
      this.attemptAbort();
    }
    return this.settledPromise;
  }

  get isSettled(): boolean {
    return this.settled;
  }

  /** Called when the wait's status is effectively cancelled; runs the abort function once. */
  attemptAbort(): void {
    const abortFn = this.abortFn;
    if (this.settled || abortFn === undefined) return;
    this.abortFn = undefined;
    const status = this.status;
    const raiseCancel: RaiseCancel = () => {
      throw status.makeCancelled();
    };
    let answer: unknown;
    try {
      answer = abortFn(raiseCancel, this);
    } catch (error) {
      this.reschedule({
        error: new TriodeInternalError('an abort function threw', { cause: error }),
      });
      return;
    }
    if (answer === Abort.SUCCEEDED) {
      this.reschedule({ error: status.makeCancelled(false) });
    } else if (answer !== Abort.FAILED) {
      this.reschedule({
        error: new TriodeInternalError(
          `an abort function must return Abort.SUCCEEDED or Abort.FAILED, not ${String(answer)}`,
        ),
      });
    }
  }

  /** @internal see `promise` */
  markAbortOnBlock(): void {
    this.abortOnBlock = true;
  }

  /** A wait can sit in the deadline heap itself (a sleep): it ends when its deadline passes. */
  deadlineExpired(): void {
    this.customSleepData = undefined;
    if (!this.settled) this.reschedule(undefined);
  }

  /** Re-registers the wait under another status (when `nursery.start` moves its task). */
  moveTo(status: CancelStatus): void {
    if (this.settled || status === this.status) return;
    this.status.removeWait(this);
    this.status = status;
    status.addWait(this);
    if (status.effectivelyCancelled) this.attemptAbort();
  }

  reschedule(outcome: Outcome | undefined): void {
    if (this.settled) {
      throw new TriodeInternalError(`task ${this.task.name} was rescheduled twice for one wait`);
    }
    this.settled = true;
    this.abortFn = undefined;
    this.status.removeWait(this);
    const task = this.task;
    if (task.wait === this) task.wait = undefined;
    if (this.external) task.runner.taskScheduledFromOutside(task);
    else task.runner.taskUnblocked(task);
    if (outcome === undefined || !('error' in outcome)) {
      this.resolve(outcome?.value);
    } else {
      this.reject(outcome.error);
    }
  }
}

/**
 * Blocks the current task until `reschedule` is called for it (or, when cancelled, until
 * `abortFn` agrees). Resolves with the rescheduled value, rejects with the rescheduled error.
 * A checkpoint. This is the primitive every other blocking operation is built on.
 *
 * When the caller is already cancelled, `abortFn` is tried at once: register the task wherever
 * `abortFn` looks for it before calling this (as in Trio).
 */
export function waitTaskRescheduled(abortFn: AbortFn, what = 'waitTaskRescheduled'): Promise<unknown> {
  if (typeof abortFn !== 'function') {
    throw new TypeError(`waitTaskRescheduled: abortFn must be a function, got ${typeof abortFn}`);
  }
  return blockTask(currentContext('waitTaskRescheduled'), abortFn, what).promise;
}

/**
 * @internal `waitTaskRescheduled` for callers that need the Wait (to reschedule it directly).
 *
 * `external`: the wait ends because of something outside this run — another thread. Such a task
 * does not count as blocked for `waitAllTasksBlocked` / MockClock autojump (as with a task
 * awaiting a foreign promise): the other thread may be about to wake it.
 */
export function blockTask(ctx: Context, abortFn: AbortFn, what: string, external = false): Wait {
  const task = ctx.task;
  const status = ctx.status;
  if (status.exited) {
    throw new Error(
      `task ${task.name} tried to block in a cancel scope that has already exited: an async ` +
        'operation was left running after the scope (or nursery) body returned; await it inside the body',
    );
  }
  if (task.wait !== undefined) {
    throw new Error(
      `task ${task.name} is already blocked in ${task.wait.what}; a task can wait in only one ` +
        'place at a time (Promise.all/race over triode operations in one task is not allowed: ' +
        'start each operation as a child task in a nursery)',
    );
  }
  const wait = new Wait(task, status, abortFn, what, external);
  task.wait = wait;
  task.cancelPoints++;
  task.schedulePoints++;
  status.addWait(wait);
  if (!external) task.runner.taskBlocked(task);
  if (status.effectivelyCancelled) wait.markAbortOnBlock();
  return wait;
}

/** Ends the wait `task` is blocked in, with `outcome` (default: the value `undefined`). */
export function reschedule(task: Task, outcome?: Outcome): void {
  const wait = task.wait;
  if (!(wait instanceof Wait)) {
    throw new Error(`reschedule: task ${task.name} is not blocked in waitTaskRescheduled`);
  }
  wait.reschedule(outcome);
}
