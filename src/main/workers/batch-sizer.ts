/**
 * How many items `mapInWorkers` puts in a batch when the caller did not say: about TARGET_MS of
 * one loop's work, measured from the rate at which results come back. Trivial items then travel
 * in batches large enough that the cost of a batch (a frame each way, a wake-up, an await) is
 * noise — measured with 1M trivial items on 2 threads: 2.3M items/s in fixed batches of 64, 3–4M
 * in batches of 256 — and slow items in batches small enough to keep every thread busy to the
 * end (1 ms items go one by one).
 */

/** The first batches, before anything was measured. */
const INITIAL = 16;
/** A batch should hold about this much of one loop's work. */
const TARGET_MS = 1;
/** Results over at least this long make one measurement. */
const WINDOW_MS = 5;
/** One measurement moves the size by at most this factor either way (a burst of results, or a stall, is not the rate). */
const MAX_STEP = 4;

export class BatchSizer {
  #size: number;
  #windowStart = -1;
  #windowItems = 0;

  /** `loops`: worker loops sharing the items; `max`: the largest batch (so several stay in flight). */
  constructor(
    private readonly loops: number,
    private readonly max: number,
  ) {
    this.#size = Math.max(1, Math.min(INITIAL, max));
  }

  /** Items for the next batch. */
  get size(): number {
    return this.#size;
  }

  /** `count` results came back (at `now`, in ms). */
  delivered(count: number, now = performance.now()): void {
    if (this.#windowStart < 0) {
      // The first results end the threads' start-up, which is no measure of the work: start here.
      this.#windowStart = now;
      return;
    }
    this.#windowItems += count;
    const elapsed = now - this.#windowStart;
    if (elapsed < WINDOW_MS) return;
    const wanted = ((this.#windowItems / elapsed) * TARGET_MS) / this.loops;
    const stepped = Math.min(this.#size * MAX_STEP, Math.max(this.#size / MAX_STEP, wanted));
    this.#size = Math.max(1, Math.min(this.max, Math.round(stepped)));
    this.#windowStart = now;
    this.#windowItems = 0;
  }
}
