import { currentContext } from '../core/context.js';
import { runnerOf } from '../core/runner.js';
import { Abort, blockTask } from '../core/traps.js';
import { checkDuration } from '../core/validate.js';

/**
 * Blocks until every other task of the run is blocked in a triode wait, and has stayed so for
 * `cushionMs` real ms. A checkpoint; cancellation raises `Cancelled`.
 *
 * Tasks awaiting foreign promises (a bare `fetch`, `fs.promises`) count as running, so this
 * never fires while such work is in flight. When several tasks wait here, those with the
 * smallest cushion wake first, in the order they called. Against a MockClock's autojump, a
 * waiter wins when its cushion is not larger than the autojump threshold.
 *
 * ```ts
 * nursery.startSoon(worker);
 * await waitAllTasksBlocked(); // worker is now parked wherever it waits
 * ```
 */
export async function waitAllTasksBlocked(cushionMs = 0): Promise<void> {
  checkDuration('waitAllTasksBlocked', 'cushionMs', cushionMs);
  const ctx = currentContext('waitAllTasksBlocked');
  const runner = runnerOf(ctx.task);
  const waiter = runner.addIdleWaiter(cushionMs);
  try {
    waiter.wait = blockTask(ctx, () => {
      runner.removeIdleWaiter(waiter);
      return Abort.SUCCEEDED;
    }, 'waitAllTasksBlocked');
  } catch (error) {
    runner.removeIdleWaiter(waiter);
    throw error;
  }
  await waiter.wait.promise;
}
