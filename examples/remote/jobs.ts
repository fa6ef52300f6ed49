// The worker module of examples/remote: ordinary exports, run by triode-worker processes.
import { checkpoint } from 'triode/worker';

/** Counts the primes below `limit` (CPU work that checks for cancellation as it goes). */
export function countPrimes(limit: number): number {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    if (n % 10_000 === 0) checkpoint(); // a cancelled call stops here
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** Which worker process ran the call. */
export function whoAmI(): string {
  return `pid ${process.pid}`;
}

export function square(n: number): number {
  return n * n;
}
