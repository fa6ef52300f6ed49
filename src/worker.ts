/** triode/worker: the worker-side API. Re-exports only. */
export { checkpoint, isCancelled, sleepSync } from './worker/api.js';
export { Cancelled } from './shared/errors.js';
