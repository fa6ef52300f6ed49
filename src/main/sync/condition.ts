/**
 * Condition, on ParkingLot and Lock. `notify` does not wake a waiter: it moves it from the
 * condition's lot to the lock's lot, so it wakes later as the lock's next owner.
 */
import { CancelScope } from '../core/cancel-scope.js';
import { currentContext } from '../core/context.js';
import { checkFunction, describe } from '../core/validate.js';
import { Lock } from './lock.js';
import { ParkingLot } from './parking-lot.js';

export interface ConditionStatistics {
  tasksWaiting: number;
  lockStatistics: ReturnType<Lock['statistics']>;
}

/**
 * A condition variable bound to a Lock.
 *
 * ```ts
 * await cond.use(async () => {
 *   while (queue.length === 0) await cond.wait();
 *   handle(queue.shift());
 * });
 * ```
 */
export class Condition {
  private readonly lock: Lock;
  private readonly lot = new ParkingLot();

  constructor(lock: Lock = new Lock()) {
    if (!(lock instanceof Lock)) throw new TypeError(`Condition: lock must be a Lock, got ${describe(lock)}`);
    this.lock = lock;
  }

  acquire(): Promise<void> {
    return this.lock.acquire();
  }
  acquireNowait(): void {
    this.lock.acquireNowait();
  }
  release(): void {
    this.lock.release();
  }
  locked(): boolean {
    return this.lock.locked();
  }

  private checkOwner(what: string): void {
    const task = currentContext(`Condition.${what}`).task;
    if (this.lock.statistics().owner !== task) throw new Error(`Condition.${what}: the calling task must hold the lock`);
  }

  /**
   * Releases the lock, waits for `notify`, and re-acquires the lock before returning — also when
   * cancelled (the Cancelled is raised after the lock is back). A checkpoint.
   */
  async wait(): Promise<void> {
    this.checkOwner('wait');
    const ctx = currentContext('Condition.wait');
    this.lock.release();
    try {
      // Woken by being reparked onto the lock's lot and handed the lock on its release.
      await this.lot.parkWait(ctx, 'Condition.wait').promise;
    } catch (error) {
      await new CancelScope({ shield: true }).run(() => this.lock.acquire());
      throw error;
    }
  }

  /** Wakes up to `n` waiters (they re-acquire the lock in turn). The caller must hold the lock. */
  notify(n = 1): void {
    this.checkOwner('notify');
    this.lot.repark(this.lockLot(), n);
  }

  /** Wakes every waiter. The caller must hold the lock. */
  notifyAll(): void {
    this.checkOwner('notifyAll');
    this.lot.reparkAll(this.lockLot());
  }

  private lockLot(): ParkingLot {
    return this.lock.lot;
  }

  /** Acquires the lock, runs `fn`, releases. A checkpoint. */
  use<T>(fn: () => Promise<T> | T): Promise<T> {
    checkFunction('Condition.use', 'fn', fn);
    return this.lock.use(fn);
  }

  statistics(): ConditionStatistics {
    return { tasksWaiting: this.lot.size, lockStatistics: this.lock.statistics() };
  }
}
