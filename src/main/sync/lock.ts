/**
 * Lock and StrictFIFOLock, on ParkingLot.
 *
 * Release hands the lock straight to the oldest waiter (it becomes the owner before it even runs),
 * so the lock is fair: a task calling `acquireNowait` while others wait gets `WouldBlock`, never
 * the lock. While a task owns the lock, its lot is registered to break if the task exits, so
 * waiters of a lock whose owner died holding it get `BrokenResourceError` instead of waiting
 * forever.
 */
import { BrokenResourceError, WouldBlock } from '../../shared/errors.js';
import { afterSchedulePoint, cancelPoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import type { Task } from '../core/task.js';
import { ParkingLot } from './parking-lot.js';
import { useAcquired } from './use.js';

export interface LockStatistics {
  locked: boolean;
  owner: Task | undefined;
  tasksWaiting: number;
}

/**
 * A mutex. FIFO and fair; only the task that acquired it may release it.
 *
 * ```ts
 * const lock = new Lock();
 * await lock.use(async () => { await writeRecord(); }); // acquire, run, release
 * ```
 */
export class Lock {
  private owner: Task | undefined;
  /** @internal Condition reparks its waiters here. */
  readonly lot = new ParkingLot();

  private take(task: Task): void {
    this.owner = task;
    (task.lotBreakers ??= new Set()).add(this.lot);
  }

  /** Takes the lock if it is free and nobody waits; else throws `WouldBlock`. Not a checkpoint. */
  acquireNowait(): void {
    const task = currentContext('Lock.acquireNowait').task;
    if (this.owner === task) throw new Error('Lock: attempt to re-acquire a lock this task already holds');
    if (this.owner !== undefined || this.lot.size > 0) throw new WouldBlock('the lock is held');
    this.take(task);
  }

  /**
   * Waits for the lock and takes it. A checkpoint; if cancelled while waiting, the task leaves the
   * queue and never gets the lock. Rejects with `BrokenResourceError` if the owner exited while
   * holding it.
   */
  acquire(): Promise<void> {
    // Not an async function: an uncontended acquire hands back a settled promise.
    try {
      const ctx = currentContext('Lock.acquire');
      cancelPoint(ctx);
      const task = ctx.task;
      if (this.owner === task) throw new Error('Lock: attempt to re-acquire a lock this task already holds');
      if (this.owner === undefined && this.lot.size === 0) {
        this.take(task);
        return afterSchedulePoint(ctx);
      }
      return this.lot.parkWait(ctx, 'Lock.acquire').promise.then(noValue, (error: unknown) => {
        if (error instanceof BrokenResourceError) {
          throw new BrokenResourceError(`the owner of this lock (${this.owner?.name}) exited without releasing it`);
        }
        throw error;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Releases the lock, handing it to the oldest waiter. Only the owner may. Not a checkpoint. */
  release(): void {
    const task = currentContext('Lock.release').task;
    if (task !== this.owner) throw new Error("Lock: can't release a lock you don't own");
    task.lotBreakers?.delete(this.lot);
    const [next] = this.lot.unpark(1);
    if (next === undefined) this.owner = undefined;
    else this.take(next);
  }

  /** True while some task holds the lock. */
  locked(): boolean {
    return this.owner !== undefined;
  }

  /** Acquires, runs `fn`, releases (also when `fn` throws). A checkpoint. */
  use<T>(fn: () => Promise<T> | T): Promise<T> {
    return useAcquired(`${this.constructor.name}.use`, () => this.acquire(), () => this.release(), fn);
  }

  statistics(): LockStatistics {
    return { locked: this.owner !== undefined, owner: this.owner, tasksWaiting: this.lot.size };
  }
}

/**
 * A Lock that promises strict FIFO hand-off (every triode Lock does; this name says the code
 * relies on it, as in Trio).
 */
export class StrictFIFOLock extends Lock {}

function noValue(): void {}
