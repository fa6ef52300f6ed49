import { Cancelled } from '../../shared/errors.js';
import { Event } from '../sync/event.js';
import { checkFunction, checkInteger } from '../core/validate.js';

/**
 * Forces tasks to run pieces of code in a chosen order, for tests of interleavings: the block
 * for position N starts only after the block for N - 1 has finished. Each position can be used
 * once. If a task is cancelled while waiting for its turn the sequence breaks, and every waiting
 * or later block raises an Error.
 *
 * ```ts
 * const seq = new Sequencer();
 * nursery.startSoon(() => seq.block(1, () => console.log('second')));
 * nursery.startSoon(() => seq.block(0, () => console.log('first')));
 * ```
 */
export class Sequencer {
  private readonly points = new Map<number, Event>();
  private readonly claimed = new Set<number>();
  private broken = false;

  private point(position: number): Event {
    let event = this.points.get(position);
    if (event === undefined) this.points.set(position, (event = new Event()));
    return event;
  }

  /** Runs `fn` at sequence `position` (a non-negative integer). A checkpoint when it waits. */
  async block<T>(position: number, fn: () => Promise<T> | T): Promise<T> {
    checkInteger('Sequencer.block', 'position', position, 0);
    checkFunction('Sequencer.block', 'fn', fn);
    if (this.claimed.has(position)) throw new Error(`Sequencer: position ${position} was already used`);
    if (this.broken) throw new Error('Sequencer: the sequence is broken');
    this.claimed.add(position);
    if (position !== 0) {
      try {
        await this.point(position).wait();
      } catch (error) {
        if (!(error instanceof Cancelled)) throw error;
        this.broken = true;
        for (const event of this.points.values()) event.set();
        throw new Error('Sequencer: a wait was cancelled; the sequence is broken', { cause: error });
      }
      if (this.broken) throw new Error('Sequencer: the sequence is broken');
    }
    try {
      return await fn();
    } finally {
      this.point(position + 1).set();
    }
  }
}
