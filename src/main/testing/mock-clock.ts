/**
 * MockClock: virtual time for tests.
 *
 * Time starts at 0 and moves only by `jump(ms)`, by running at `rate` × real time, or by
 * autojump: with `autojumpThreshold` set, whenever every task of the run has been blocked for
 * that many real ms, the clock jumps to the next deadline. With `autojumpThreshold: 0` a test
 * full of sleeps and timeouts runs in no real time and gives the same result on any machine.
 */
import { performance } from 'node:perf_hooks';
import type { AutojumpClock, ClockListener } from '../core/clock.js';
import { checkDuration, checkOptions } from '../core/validate.js';

export interface MockClockOptions {
  /** Virtual ms per real ms (default 0: time only moves by jumps). */
  rate?: number;
  /** Real ms every task must be blocked before the clock jumps to the next deadline (default Infinity: never). */
  autojumpThreshold?: number;
}

/**
 * ```ts
 * const clock = new MockClock({ autojumpThreshold: 0 });
 * await run(async () => {
 *   await sleep(60_000); // returns at once; currentTime() is now 60000
 * }, { clock });
 * ```
 */
export class MockClock implements AutojumpClock {
  private virtualBase = 0;
  private realBase = performance.now();
  private _rate = 0;
  private _autojumpThreshold = Infinity;
  private readonly listeners = new Set<ClockListener>();

  constructor(options: MockClockOptions = {}) {
    checkOptions('MockClock', options);
    if (options.rate !== undefined) this.rate = options.rate;
    if (options.autojumpThreshold !== undefined) this.autojumpThreshold = options.autojumpThreshold;
  }

  /** Virtual ms per real ms. Settable. */
  get rate(): number {
    return this._rate;
  }

  set rate(value: number) {
    checkDuration('MockClock.rate', 'rate', value);
    this.virtualBase = this.currentTime();
    this.realBase = performance.now();
    this._rate = value;
    for (const listener of this.listeners) listener.clockChanged();
  }

  /** Real ms of all-tasks-blocked before an autojump; Infinity turns autojump off. Settable. */
  get autojumpThreshold(): number {
    return this._autojumpThreshold;
  }

  set autojumpThreshold(value: number) {
    checkDuration('MockClock.autojumpThreshold', 'autojumpThreshold', value);
    this._autojumpThreshold = value;
    for (const listener of this.listeners) listener.autojumpChanged();
  }

  currentTime(): number {
    return this.virtualBase + (this._rate === 0 ? 0 : (performance.now() - this.realBase) * this._rate);
  }

  deadlineToSleepTime(deadline: number): number {
    const remaining = deadline - this.currentTime();
    if (remaining <= 0) return 0;
    return this._rate === 0 ? Infinity : remaining / this._rate;
  }

  /** Moves virtual time forward by `ms` (RangeError when negative); expires due deadlines. */
  jump(ms: number): void {
    checkDuration('MockClock.jump', 'ms', ms);
    this.virtualBase += ms;
    for (const listener of this.listeners) listener.clockChanged();
  }

  /** @internal autojump */
  jumpTo(deadline: number): void {
    const now = this.currentTime();
    if (deadline > now) {
      this.virtualBase += deadline - now;
    }
  }

  /** @internal */
  attachListener(listener: ClockListener): void {
    this.listeners.add(listener);
  }

  /** @internal */
  detachListener(listener: ClockListener): void {
    this.listeners.delete(listener);
  }

  toString(): string {
    return `<MockClock time=${this.currentTime()} rate=${this._rate} autojumpThreshold=${this._autojumpThreshold}>`;
  }
}
