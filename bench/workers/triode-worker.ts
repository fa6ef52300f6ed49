// The worker module triode calls in bench/workers.
import { checkpoint } from 'triode/worker';
export { burn } from './burn.js';

export function add(a: number, b: number): number {
  return a + b;
}

/** A CPU loop that checks for cancellation every iteration. */
export function spin(): never {
  for (;;) checkpoint();
}

/** A CPU loop that never checks (only killing stops it). */
export function spinForever(): never {
  for (;;);
}
