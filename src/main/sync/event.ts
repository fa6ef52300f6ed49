/** Event: a flag tasks can wait for. Built on ParkingLot. */
import { checkpoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import { ParkingLot } from './parking-lot.js';

export interface EventStatistics {
  tasksWaiting: number;
}

/**
 * A one-shot flag: `wait()` blocks until `set()` is called; once set it stays set.
 *
 * ```ts
 * const ready = new Event();
 * nursery.startSoon(async () => { await ready.wait(); console.log('go'); });
 * ready.set();
 * ```
 */
export class Event {
  private flag = false;
  private readonly lot = new ParkingLot();

  /** True once `set()` was called. */
  isSet(): boolean {
    return this.flag;
  }

  /** Sets the flag and wakes every waiting task. Idempotent; not a checkpoint. */
  set(): void {
    if (this.flag) return;
    this.flag = true;
    this.lot.unparkAll();
  }

  /**
   * Waits until the flag is set. A checkpoint (also when already set); cancellation raises
   * `Cancelled` and has no other effect.
   */
  async wait(): Promise<void> {
    if (this.flag) return checkpoint();
    await this.lot.parkWait(currentContext('Event.wait'), 'Event.wait').promise;
  }

  statistics(): EventStatistics {
    return { tasksWaiting: this.lot.size };
  }
}
