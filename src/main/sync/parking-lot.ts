/**
 * ParkingLot: the one queue every triode synchronization primitive waits in.
 *
 * Events, locks, semaphores, conditions, capacity limiters and channels all reduce to "park this
 * task until someone unparks it", so they are all built on this class, and it is the only place
 * where the wait/abort contract of `waitTaskRescheduled` is handled for them. That gives every
 * primitive the same guarantees for free: strict FIFO wake-ups, cancellation that removes the
 * waiter from the queue (so a cancelled waiter is never handed anything), and `repark` to move
 * waiters between queues without waking them (how Condition hands waiters to its lock).
 *
 * `unpark` does not run the woken tasks: it reschedules them, and they continue after the
 * caller's current step. The caller decides what a woken task receives by passing a value
 * through the task's wait (see `unparkWith`), which is how channels hand values over without a
 * window in which a cancellation could lose them.
 */
import { BrokenResourceError } from '../../shared/errors.js';
import { currentContext } from '../core/context.js';
import type { Task } from '../core/task.js';
import { Abort, blockTask, type Outcome, type Wait } from '../core/traps.js';
import { checkInteger, describe } from '../core/validate.js';

export interface ParkingLotStatistics {
  /** Tasks parked here now. */
  tasksWaiting: number;
}

/** Abort for every parked wait: leave whichever lot holds it now (repark moves waits). */
function abortParked(_raiseCancel: unknown, wait: Wait): Abort {
  (wait.customSleepData as ParkingLot).remove(wait);
  return Abort.SUCCEEDED;
}

/**
 * A fair (FIFO) queue of parked tasks. Low-level: build your own primitives on it.
 *
 * ```ts
 * const lot = new lowlevel.ParkingLot();
 * nursery.startSoon(async () => { await lot.park(); console.log('woken'); });
 * await waitAllTasksBlocked();
 * lot.unpark();
 * ```
 */
export class ParkingLot {
  // The parked waits, oldest first, as a list linked through the waits themselves: parking,
  // leaving from anywhere (a cancellation) and waking the oldest are O(1) with no allocation.
  // (A Set costs O(holes) to iterate after many deletions from its front.)
  private head: Wait | undefined = undefined;
  private tail: Wait | undefined = undefined;
  private count = 0;
  private brokenBy: Task | undefined | null = null;

  /** Number of parked tasks. */
  get size(): number {
    return this.count;
  }

  private add(wait: Wait): void {
    wait.customSleepData = this;
    wait.prevInLot = this.tail;
    wait.nextInLot = undefined;
    if (this.tail === undefined) this.head = wait;
    else this.tail.nextInLot = wait;
    this.tail = wait;
    this.count++;
  }

  /** @internal takes a parked wait out of the list (it stays blocked). */
  remove(wait: Wait): void {
    const { prevInLot: prev, nextInLot: next } = wait;
    if (prev === undefined) this.head = next;
    else prev.nextInLot = next;
    if (next === undefined) this.tail = prev;
    else next.prevInLot = prev;
    wait.prevInLot = wait.nextInLot = undefined;
    this.count--;
  }

  /**
   * Parks the calling task until `unpark`. A checkpoint; cancellation removes the task from the
   * queue and raises `Cancelled`. Resolves with the value given by `unparkWith`, if any.
   */
  async park(): Promise<unknown> {
    return this.parkWait(currentContext('ParkingLot.park'), 'ParkingLot.park').promise;
  }

  /** @internal park and get the Wait (primitives keep it to hand values over). */
  parkWait(ctx: Parameters<typeof blockTask>[0], what: string): Wait {
    if (this.brokenBy !== null) throw this.brokenError();
    const wait = blockTask(ctx, abortParked, what);
    this.add(wait);
    return wait;
  }

  /** Wakes up to `count` tasks, oldest first; returns them. Not a checkpoint. */
  unpark(count = 1): Task[] {
    checkInteger('ParkingLot.unpark', 'count', count, 0, true);
    const woken: Task[] = [];
    while (woken.length < count && this.head !== undefined) {
      const wait = this.head;
      this.remove(wait);
      woken.push(wait.task);
      wait.reschedule(undefined);
    }
    return woken;
  }

  /** Wakes every parked task; returns them. */
  unparkAll(): Task[] {
    return this.unpark(Infinity);
  }

  /** @internal the oldest parked wait, still parked (to decide what to hand it). */
  peek(): Wait | undefined {
    return this.head;
  }

  /** @internal wakes the oldest parked task with `outcome`; false when none is parked. */
  unparkWith(outcome: Outcome): boolean {
    const wait = this.peek();
    if (wait === undefined) return false;
    this.remove(wait);
    wait.reschedule(outcome);
    return true;
  }

  /** Moves up to `count` parked tasks (oldest first) to `newLot` without waking them. */
  repark(newLot: ParkingLot, count = 1): void {
    if (!(newLot instanceof ParkingLot)) {
      throw new TypeError(`ParkingLot.repark: newLot must be a ParkingLot, got ${describe(newLot)}`);
    }
    checkInteger('ParkingLot.repark', 'count', count, 0, true);
    for (let moved = 0; moved < count && this.head !== undefined && newLot !== this; moved++) {
      const wait = this.head;
      this.remove(wait);
      newLot.add(wait);
    }
    if (newLot.brokenBy !== null) newLot.breakLot(newLot.brokenBy);
  }

  /** Moves every parked task to `newLot`. */
  reparkAll(newLot: ParkingLot): void {
    this.repark(newLot, Infinity);
  }

  /**
   * Breaks the lot: every parked task and every later `park` raises `BrokenResourceError`.
   * `task` (default: the current task, if any) is named in the error as the one that broke it.
   */
  breakLot(task?: Task): void {
    if (this.brokenBy === null) this.brokenBy = task;
    const error = this.brokenError();
    while (this.head !== undefined) {
      const wait = this.head;
      this.remove(wait);
      wait.reschedule({ error });
    }
  }

  private brokenError(): BrokenResourceError {
    const by = this.brokenBy;
    return new BrokenResourceError(
      by ? `the parking lot was broken by ${by.name} (it exited while holding it)` : 'the parking lot was broken',
    );
  }

  statistics(): ParkingLotStatistics {
    return { tasksWaiting: this.count };
  }
}
