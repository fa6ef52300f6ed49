/**
 * How a thread's tasks wait on a ring's sequence word (DATA for receivers, SPACE for senders)
 * without a thundering herd: one `Atomics.waitAsync` per (ring, word, thread), however many
 * tasks wait, and one task woken per wake-up.
 *
 * The tasks of this thread park in one ParkingLot per (ring, word). While the lot is not empty,
 * exactly one `Atomics.waitAsync` is armed on the word (with the thread counted once in the
 * ring's waiter count, so other threads notify). When it fires, one task is woken, and the wait is
 * armed again for the others. A woken task that got what it wanted passes the wake-up on if there
 * is more for the next one (`passOn`), and so does one that ends with an error the others will
 * meet too (the channel closed or broke) or one cancelled after it was woken — so a wake-up is
 * never lost, and N waiters cost N wake-ups for N values, not N².
 *
 * A wake-up from a task of this same thread (a sender here, a receiver here) unparks one task at
 * once, synchronously, so tasks talking through a shared channel among themselves wake as
 * promptly as with a memory channel.
 */
import { ParkingLot } from '../sync/parking-lot.js';
import type { Context } from '../core/context.js';

export class RingWaiter {
  readonly lot = new ParkingLot();
  private armed = false;

  constructor(
    private readonly header: Int32Array,
    private readonly index: number,
    private readonly counter: number,
  ) {}

  /**
   * Parks the task until the word is no longer `seen` (another thread), or a task of this thread
   * wakes one waiter here. Consumes nothing, so a cancelled wait loses nothing. Returns at once
   * when the word already moved.
   */
  async wait(ctx: Context, seen: number, what: string): Promise<void> {
    if (!this.armed && !this.arm(seen)) return;
    try {
      await this.lot.parkWait(ctx, what).promise;
    } catch (error) {
      // The last waiter left: settle the armed wait, so none outlives every task (waking other
      // threads' waiters on this word is harmless: they look again).
      if (this.lot.size === 0 && this.armed) Atomics.notify(this.header, this.index);
      throw error;
    }
  }

  /**
   * Arms the one Atomics.waitAsync of this thread on the word still being `value`; false when it
   * moved already (then there is news: nobody should sleep).
   */
  private arm(value: number): boolean {
    Atomics.add(this.header, this.counter, 1);
    const result = Atomics.waitAsync(this.header, this.index, value);
    if (!result.async) {
      Atomics.sub(this.header, this.counter, 1);
      return false;
    }
    this.armed = true;
    void result.value.then(() => {
      Atomics.sub(this.header, this.counter, 1);
      this.armed = false;
      this.lot.unpark(1);
      // The others wait on: arm again for them (it returns at once if the word moved again).
      while (this.lot.size > 0 && !this.armed && !this.arm(Atomics.load(this.header, this.index))) this.lot.unpark(1);
    });
    return true;
  }

  /** Wakes one waiter of this thread (a same-thread peer made progress, or a waiter passes it on). */
  passOn(): void {
    if (this.lot.size > 0) this.lot.unpark(1);
  }

  /** Wakes every waiter of this thread (the channel closed). */
  wakeAll(): void {
    if (this.lot.size > 0) this.lot.unparkAll();
  }
}

const waitersByRing = new WeakMap<SharedArrayBuffer, Map<number, RingWaiter>>();

/** This thread's waiter on word `index` of the ring (counting itself in `counter`). */
export function ringWaiter(sab: SharedArrayBuffer, header: Int32Array, index: number, counter: number): RingWaiter {
  let byIndex = waitersByRing.get(sab);
  if (byIndex === undefined) waitersByRing.set(sab, (byIndex = new Map()));
  let waiter = byIndex.get(index);
  if (waiter === undefined) byIndex.set(index, (waiter = new RingWaiter(header, index, counter)));
  return waiter;
}
