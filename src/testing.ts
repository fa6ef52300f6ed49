/** triode/testing: virtual time and helpers for testing concurrent code. Re-exports only. */
export { MockClock } from './main/testing/mock-clock.js';
export type { MockClockOptions } from './main/testing/mock-clock.js';
export { waitAllTasksBlocked } from './main/testing/wait-all-tasks-blocked.js';
export { assertCheckpoints, assertNoCheckpoints } from './main/testing/checkpoints.js';
export { Sequencer } from './main/testing/sequencer.js';
