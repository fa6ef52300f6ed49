/** Semaphore, on ParkingLot: a counter that `acquire` waits on while it is zero. */
import { WouldBlock } from '../../shared/errors.js';
import { cancelPoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import { checkInteger, checkOptions } from '../core/validate.js';
import { ParkingLot } from './parking-lot.js';
import { useAcquired } from './use.js';

export interface SemaphoreStatistics {
  tasksWaiting: number;
}

/**
 * A counting semaphore. `release` hands a unit straight to the oldest waiter.
 *
 * ```ts
 * const slots = new Semaphore(3);
 * await slots.use(() => download(url)); // at most 3 at a time
 * ```
 */
export class Semaphore {
  private _value: number;
  private readonly _maxValue: number | undefined;
  private readonly lot = new ParkingLot();

  constructor(initialValue: number, options: { maxValue?: number } = {}) {
    options = checkOptions('Semaphore', options);
    this._value = checkInteger('Semaphore', 'initialValue', initialValue, 0);
    if (options.maxValue !== undefined) {
      this._maxValue = checkInteger('Semaphore', 'maxValue', options.maxValue, 0);
      if (this._value > this._maxValue) {
        throw new RangeError(`Semaphore: initialValue ${initialValue} is larger than maxValue ${options.maxValue}`);
      }
    }
  }

  /** The current count. */
  get value(): number {
    return this._value;
  }

  /** The largest count allowed, or undefined. */
  get maxValue(): number | undefined {
    return this._maxValue;
  }

  /** Decrements the count if it is positive; else throws `WouldBlock`. Not a checkpoint. */
  acquireNowait(): void {
    if (this._value === 0) throw new WouldBlock('the semaphore is at zero');
    this._value--;
  }

  /** Waits until the count is positive and decrements it. A checkpoint; a cancelled wait takes nothing. */
  async acquire(): Promise<void> {
    const ctx = currentContext('Semaphore.acquire');
    cancelPoint(ctx);
    if (this._value > 0) {
      this._value--;
      const macrotask = schedulePoint(ctx);
      if (macrotask !== undefined) await macrotask;
      return;
    }
    await this.lot.parkWait(ctx, 'Semaphore.acquire').promise;
  }

  /** Increments the count, or hands the unit to the oldest waiter. Throws past `maxValue`. */
  release(): void {
    if (this.lot.size > 0) {
      this.lot.unpark(1);
      return;
    }
    if (this._maxValue !== undefined && this._value === this._maxValue) {
      throw new Error('Semaphore: released too many times (the count would exceed maxValue)');
    }
    this._value++;
  }

  /** Acquires, runs `fn`, releases. A checkpoint. */
  use<T>(fn: () => Promise<T> | T): Promise<T> {
    return useAcquired('Semaphore.use', () => this.acquire(), () => this.release(), fn);
  }

  statistics(): SemaphoreStatistics {
    return { tasksWaiting: this.lot.size };
  }
}
