/**
 * CapacityLimiter, on ParkingLot: at most `totalTokens` borrowers at once. A borrower is any
 * object (by default the calling task) and holds at most one token. Tokens are handed straight to
 * the oldest waiter on release, so a waiter that was handed one owns it even if it is cancelled
 * before it runs again.
 */
import { WouldBlock } from '../../shared/errors.js';
import { cancelPoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import type { Task } from '../core/task.js';
import { checkInteger } from '../core/validate.js';
import { ParkingLot } from './parking-lot.js';
import { useAcquired } from './use.js';

export interface CapacityLimiterStatistics {
  borrowedTokens: number;
  totalTokens: number;
  borrowers: unknown[];
  tasksWaiting: number;
}

/**
 * Limits how many tasks do something at once (worker calls use one to queue jobs).
 *
 * ```ts
 * const limiter = new CapacityLimiter(10);
 * await limiter.use(() => fetchPage(url)); // at most 10 fetches at a time
 * ```
 */
export class CapacityLimiter {
  private _totalTokens: number;
  private readonly borrowers = new Set<unknown>();
  private readonly pending = new Map<Task, unknown>();
  private readonly lot = new ParkingLot();

  constructor(totalTokens: number) {
    this._totalTokens = checkInteger('CapacityLimiter', 'totalTokens', totalTokens, 0, true);
  }

  /** The number of tokens. Settable; raising it wakes waiters at once. */
  get totalTokens(): number {
    return this._totalTokens;
  }

  set totalTokens(value: number) {
    this._totalTokens = checkInteger('CapacityLimiter', 'totalTokens', value, 0, true);
    this.wakeWaiters();
  }

  get borrowedTokens(): number {
    return this.borrowers.size;
  }

  get availableTokens(): number {
    return this._totalTokens - this.borrowers.size;
  }

  private wakeWaiters(): void {
    const available = this._totalTokens - this.borrowers.size;
    if (available <= 0) return;
    for (const task of this.lot.unpark(available)) {
      this.borrowers.add(this.pending.get(task));
      this.pending.delete(task);
    }
  }

  /** Takes a token for the calling task now, or throws `WouldBlock`. Not a checkpoint. */
  acquireNowait(): void {
    this.acquireOnBehalfOfNowait(currentContext('CapacityLimiter.acquireNowait').task);
  }

  /** Takes a token for `borrower` now, or throws `WouldBlock`. Not a checkpoint. */
  acquireOnBehalfOfNowait(borrower: unknown): void {
    if (this.borrowers.has(borrower)) {
      throw new Error("CapacityLimiter: this borrower already holds one of this limiter's tokens");
    }
    if (this.borrowers.size >= this._totalTokens || this.lot.size > 0) {
      throw new WouldBlock('no token is available');
    }
    this.borrowers.add(borrower);
  }

  /** @internal takes a token for `borrower` if one is free and nobody waits; false otherwise. */
  tryAcquireOnBehalfOf(borrower: unknown): boolean {
    if (this.borrowers.size >= this._totalTokens || this.lot.size > 0 || this.borrowers.has(borrower)) return false;
    this.borrowers.add(borrower);
    return true;
  }

  /** Waits for a token for the calling task. A checkpoint; a cancelled wait takes no token. */
  acquire(): Promise<void> {
    return this.acquireOnBehalfOf(currentContext('CapacityLimiter.acquire').task);
  }

  /** Waits for a token for `borrower`. A checkpoint; a cancelled wait takes no token. */
  async acquireOnBehalfOf(borrower: unknown): Promise<void> {
    const ctx = currentContext('CapacityLimiter.acquireOnBehalfOf');
    cancelPoint(ctx);
    if (this.borrowers.has(borrower)) {
      throw new Error("CapacityLimiter: this borrower already holds one of this limiter's tokens");
    }
    if (this.borrowers.size < this._totalTokens && this.lot.size === 0) {
      this.borrowers.add(borrower);
      const macrotask = schedulePoint(ctx);
      if (macrotask !== undefined) await macrotask;
      return;
    }
    this.pending.set(ctx.task, borrower);
    try {
      await this.lot.parkWait(ctx, 'CapacityLimiter.acquire').promise;
    } catch (error) {
      this.pending.delete(ctx.task);
      throw error;
    }
  }

  /** Returns the calling task's token. Throws if it holds none. */
  release(): void {
    this.releaseOnBehalfOf(currentContext('CapacityLimiter.release').task);
  }

  /** Returns `borrower`'s token, handing it to the oldest waiter. Throws if it holds none. */
  releaseOnBehalfOf(borrower: unknown): void {
    if (!this.borrowers.delete(borrower)) {
      throw new Error("CapacityLimiter: this borrower isn't holding any of this limiter's tokens");
    }
    this.wakeWaiters();
  }

  /** Acquires a token for the calling task, runs `fn`, releases. A checkpoint. */
  async use<T>(fn: () => Promise<T> | T): Promise<T> {
    const task = currentContext('CapacityLimiter.use').task;
    return useAcquired('CapacityLimiter.use', () => this.acquireOnBehalfOf(task), () => this.releaseOnBehalfOf(task), fn);
  }

  statistics(): CapacityLimiterStatistics {
    return {
      borrowedTokens: this.borrowers.size,
      totalTokens: this._totalTokens,
      borrowers: Array.from(this.borrowers),
      tasksWaiting: this.lot.size,
    };
  }
}
