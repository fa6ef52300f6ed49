/**
 * Clocks. A run keeps time on one clock, in milliseconds; deadlines are absolute times on it.
 * The default is the system's monotonic clock (`performance.now()`); tests use `MockClock`
 * (in `triode/testing`), which only moves when told to or when every task is blocked.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Called when a run starts with this clock. */
  startClock?(): void;
  /** The current time in ms. Only differences between values are meaningful. */
  currentTime(): number;
  /** How many real ms to wait until `deadline` (Infinity: it will never pass on its own). */
  deadlineToSleepTime(deadline: number): number;
}

/** What a run exposes to a virtual clock so that jumps and autojumps reach its deadlines. */
export interface ClockListener {
  /** The clock's time or rate changed: expire due deadlines and re-arm the timer. */
  clockChanged(): void;
  /** The autojump threshold changed: re-check whether everything is blocked. */
  autojumpChanged(): void;
}

/** Implemented by clocks that can jump when the run is idle (MockClock). */
export interface AutojumpClock extends Clock {
  readonly autojumpThreshold: number;
  attachListener(listener: ClockListener): void;
  detachListener(listener: ClockListener): void;
  /** Moves the clock forward to `deadline` (no-op when it is not in the future). */
  jumpTo(deadline: number): void;
}

export function isAutojumpClock(clock: Clock): clock is AutojumpClock {
  return typeof (clock as Partial<AutojumpClock>).attachListener === 'function';
}

/** The default clock: `performance.now()`, monotonic, in ms. */
export class SystemClock implements Clock {
  currentTime(): number {
    return performance.now();
  }
  deadlineToSleepTime(deadline: number): number {
    return deadline - performance.now();
  }
}

export function checkClock(clock: unknown): Clock {
  const c = clock as Partial<Clock> | null;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.currentTime !== 'function' ||
    typeof c.deadlineToSleepTime !== 'function'
  ) {
    throw new TypeError('run: options.clock must implement currentTime() and deadlineToSleepTime()');
  }
  return c as Clock;
}
