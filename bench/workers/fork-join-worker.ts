// The worker half of bench/fork-join: recursive fib through nested calls (a parallel compute
// nursery per level above the cutoff), and merge sort of shared doubles (examples/parallel-sort).
import { openNursery, workerModule } from 'triode';

const self = workerModule<typeof import('./fork-join-worker.js')>(new URL(import.meta.url));

/** fib(n), the slow way: the same work on any thread. */
export function fibHere(n: number): number {
  return n < 2 ? n : fibHere(n - 1) + fibHere(n - 2);
}

/** fib(n) with fib(n - 1) and fib(n - 2) as two nested calls while n > cutoff. */
export async function fibForkJoin(n: number, cutoff: number): Promise<number> {
  if (n <= cutoff) return fibHere(n);
  let a = 0;
  let b = 0;
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => void (a = await self.fibForkJoin(n - 1, cutoff)));
    nursery.startSoon(async () => void (b = await self.fibForkJoin(n - 2, cutoff)));
  });
  return a + b;
}
