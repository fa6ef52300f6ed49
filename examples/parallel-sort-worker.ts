// The worker half of examples/parallel-sort.ts: a fork-join merge sort through nested calls.
// The numbers live in shared memory, so a nested call passes only where to sort, not the data.
import { openNursery, workerModule } from 'triode';

const sorter = workerModule<typeof import('./parallel-sort-worker.js')>(new URL(import.meta.url));

/**
 * Sorts `data[from, to)` in place: below `cutoff` elements on this thread, above it by sorting the
 * two halves in two nested calls (a parallel compute nursery: an error in one cancels the other;
 * cancelling the caller cancels both) and merging them.
 */
export async function sortRange(data: Float64Array, scratch: Float64Array, from: number, to: number, cutoff: number): Promise<void> {
  if (to - from <= cutoff) {
    data.subarray(from, to).sort();
    return;
  }
  const mid = from + ((to - from) >> 1);
  await openNursery(async (nursery) => {
    nursery.startSoon(() => sorter.sortRange(data, scratch, from, mid, cutoff));
    nursery.startSoon(() => sorter.sortRange(data, scratch, mid, to, cutoff));
  });
  merge(data, scratch, from, mid, to);
}

/** Merges the sorted runs data[from, mid) and data[mid, to) through scratch. */
function merge(data: Float64Array, scratch: Float64Array, from: number, mid: number, to: number): void {
  let i = from;
  let j = mid;
  let k = from;
  while (i < mid && j < to) scratch[k++] = data[i]! <= data[j]! ? data[i++]! : data[j++]!;
  while (i < mid) scratch[k++] = data[i++]!;
  while (j < to) scratch[k++] = data[j++]!;
  data.set(scratch.subarray(from, to), from);
}

/** The same sort on one thread, for comparison. */
export function sortOnOneThread(data: Float64Array): void {
  data.sort();
}
