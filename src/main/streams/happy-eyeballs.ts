/**
 * Happy Eyeballs (RFC 8305), as Trio does it: try the targets in order, starting the next one
 * when the previous attempt fails or `delayMs` passes without an answer, whichever comes first;
 * the first success cancels the rest (and closes any that also succeeded); when every attempt
 * fails, raise one `AggregateError` holding each failure.
 */
import { checkpointIfCancelled } from '../core/checkpoint.js';
import { isCancellation } from '../../shared/errors.js';
import { openNursery } from '../core/nursery.js';
import { moveOnAfter } from '../core/timeouts.js';
import { checkDuration, checkFunction } from '../core/validate.js';
import { Event } from '../sync/event.js';
import type { AsyncResource } from './abc.js';
import { acloseForcefully } from './aclose-forcefully.js';

/**
 * Connects to the first of `targets` that answers, racing them with a stagger of `delayMs`.
 * A checkpoint; cancellation cancels every attempt and closes any connection already made.
 *
 * ```ts
 * const stream = await lowlevel.happyEyeballs(addresses, (a) => connect(a), 250);
 * ```
 */
export async function happyEyeballs<T, R extends AsyncResource>(
  targets: readonly T[],
  attempt: (target: T) => Promise<R>,
  delayMs = 250,
  describeFailure = 'all connection attempts failed',
): Promise<R> {
  checkFunction('happyEyeballs', 'attempt', attempt);
  checkDuration('happyEyeballs', 'delayMs', delayMs);
  if (!Array.isArray(targets) || targets.length === 0) {
    throw new TypeError('happyEyeballs: targets must be a non-empty array');
  }
  await checkpointIfCancelled();
  let winner: R | undefined;
  const errors: unknown[] = [];
  await openNursery(async (nursery) => {
    for (let i = 0; i < targets.length && winner === undefined; i++) {
      const failed = new Event();
      nursery.startSoon(async () => {
        try {
          const connection = await attempt(targets[i]!);
          if (winner === undefined) {
            winner = connection;
            nursery.cancelScope.cancel('another attempt connected first');
          } else {
            await acloseForcefully(connection);
          }
        } catch (error) {
          if (isCancellation(error)) throw error;
          errors[i] = error;
          failed.set();
        }
      });
      if (i < targets.length - 1) await moveOnAfter(delayMs, () => failed.wait());
    }
  }).catch(async (error: unknown) => {
    if (winner !== undefined) await acloseForcefully(winner);
    throw error;
  });
  if (winner === undefined) {
    throw new AggregateError(errors.filter((e) => e !== undefined), describeFailure);
  }
  return winner;
}
