/**
 * CapacityLimiter, on ParkingLot: at most `totalTokens` borrowers at once. A borrower is any
 * object (by default the calling task) and holds at most one token. Tokens are handed straight to
 * the oldest waiter on release, so a waiter that was handed one owns it even if it is cancelled
 * before it runs again.
 */
import { WouldBlock } from '../../shared/errors.js';
import { afterSchedulePoint, cancelPoint } from '../core/checkpoint.js';
import { currentContext, type Context } from '../core/context.js';
import type { Task } from '../core/task.js';
import { checkFunction, checkInteger } from '../core/validate.js';
import { ParkingLot } from './parking-lot.js';

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
      // A task waiting for itself (acquire, use) has no entry: it is its own borrower.
      if (this.pending.size > 0 && this.pending.has(task)) {
        this.borrowers.add(this.pending.get(task));
        this.pending.delete(task);
      } else {
        this.borrowers.add(task);
      }
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
  acquireOnBehalfOf(borrower: unknown): Promise<void> {
    try {
      return this.startAcquire(currentContext('CapacityLimiter.acquireOnBehalfOf'), borrower);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The cancel point and the token: taken now (then a settled promise: the caller's await is the
   * schedule point), or a promise of it. No async frame of its own for the calling task's token —
   * a limiter queues many tasks at once.
   */
  private startAcquire(ctx: Context, borrower: unknown): Promise<void> {
    cancelPoint(ctx);
    if (this.borrowers.has(borrower)) {
      throw new Error("CapacityLimiter: this borrower already holds one of this limiter's tokens");
    }
    if (this.borrowers.size < this._totalTokens && this.lot.size === 0) {
      this.borrowers.add(borrower);
      return afterSchedulePoint(ctx);
    }
    if (borrower === ctx.task) return this.lot.parkWait(ctx, 'CapacityLimiter.acquire').promise as Promise<void>;
    return this.parkOnBehalfOf(ctx, borrower);
  }

  private parkOnBehalfOf(ctx: Context, borrower: unknown): Promise<void> {
    const wait = this.lot.parkWait(ctx, 'CapacityLimiter.acquire');
    this.pending.set(ctx.task, borrower);
    return (wait.promise as Promise<void>).catch((error: unknown) => {
      this.pending.delete(ctx.task);
      throw error;
    });
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
    // One async frame per use (not the shared useAcquired's three): a limiter queues many tasks.
    const ctx = currentContext('CapacityLimiter.use');
    checkFunction('CapacityLimiter.use', 'fn', fn);
    await this.startAcquire(ctx, ctx.task);
    try {
      return await fn();
    } finally {
      this.releaseOnBehalfOf(ctx.task);
    }
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
