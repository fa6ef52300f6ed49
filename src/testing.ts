/** triode/testing: virtual time and helpers for testing concurrent code. Re-exports only. */
export { MockClock } from './main/testing/mock-clock.js';
export type { MockClockOptions } from './main/testing/mock-clock.js';
export { waitAllTasksBlocked } from './main/testing/wait-all-tasks-blocked.js';
export { assertCheckpoints, assertNoCheckpoints } from './main/testing/checkpoints.js';
export { Sequencer } from './main/testing/sequencer.js';
export {
  MemorySendStream,
  MemoryReceiveStream,
  LockstepSendStream,
  LockstepReceiveStream,
  memoryStreamPump,
  memoryStreamOneWayPair,
  memoryStreamPair,
  lockstepStreamOneWayPair,
  lockstepStreamPair,
} from './main/testing/memory-streams.js';
export type { MemoryStapledStream, LockstepStapledStream } from './main/testing/memory-streams.js';
export { checkOneWayStream, checkTwoWayStream, checkHalfCloseableStream } from './main/testing/check-streams.js';
export type { PairMaker } from './main/testing/check-streams.js';
