/** `acloseForcefully`: close a resource without waiting for anything graceful. */
import { CancelScope } from '../core/cancel-scope.js';
import { checkpoint } from '../core/checkpoint.js';
import type { AsyncResource } from './abc.js';

/**
 * Closes `resource` inside an already-cancelled scope, so a graceful close (a TLS close-notify,
 * flushing a buffer) is skipped instead of waited for. Use it to clean up after an error. A
 * checkpoint.
 */
export async function acloseForcefully(resource: AsyncResource): Promise<void> {
  if (typeof (resource as AsyncResource | null)?.aclose !== 'function') {
    throw new TypeError('acloseForcefully: resource must have an aclose() method');
  }
  const scope = new CancelScope();
  scope.cancel('acloseForcefully');
  await scope.run(() => resource.aclose());
  // Closed, whatever happened: now the checkpoint (a cancelled caller raises here).
  await checkpoint();
}
