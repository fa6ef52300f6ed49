/** triode/worker: the worker-side API. Re-exports only. */
export { checkpoint, isCancelled, sleepSync } from './worker/api.js';
export { BrokenResourceError, Cancelled, ClosedResourceError, EndOfChannel, WouldBlock } from './shared/errors.js';
export { SharedSendChannel, SharedReceiveChannel } from './main/channels/shared-channel.js';
