/**
 * `SideWaiter`: the one task (at most) waiting on one side of a stream, and the callback that
 * wakes it. Node's stream events ('readable', 'drain', a write's callback) call `wake` from
 * outside any task; the woken task re-checks the stream's state, so a spurious wake is harmless.
 */
import type { Context } from '../core/context.js';
import { Abort, blockTask, type Wait } from '../core/traps.js';

/** One task at most waits on each side; this is where it waits. */
export class SideWaiter {
  private wait: Wait | undefined;

  async block(ctx: Context, what: string): Promise<void> {
    const wait = blockTask(ctx, () => {
      if (this.wait === wait) this.wait = undefined;
      return Abort.SUCCEEDED;
    }, what);
    this.wait = wait;
    await wait.promise;
  }

  wake = (): void => {
    const wait = this.wait;
    if (wait !== undefined) {
      this.wait = undefined;
      wait.reschedule(undefined);
    }
  };
}

