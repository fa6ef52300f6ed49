/** The `lowlevel` namespace: the primitives other primitives are built from, and introspection. */
export { waitTaskRescheduled, reschedule, Abort } from './core/traps.js';
export type { AbortFn, RaiseCancel, Outcome } from './core/traps.js';
export { Task } from './core/task.js';
export {
  currentTask,
  currentRootTask,
  spawnSystemTask,
  addInstrument,
  removeInstrument,
  currentStatistics,
  currentTrioToken,
} from './core/introspection.js';
export type { RunStatistics } from './core/introspection.js';
export type { Instrument } from './core/instruments.js';
export { ParkingLot } from './sync/parking-lot.js';
export type { ParkingLotStatistics } from './sync/parking-lot.js';
export { checkpointIfCancelled, cancelShieldedCheckpoint } from './core/checkpoint.js';
export { happyEyeballs } from './streams/happy-eyeballs.js';
export { waitForEvent } from './core/wait-event.js';
export { openProcess } from './io/process.js';
export { TrioToken } from './core/trio-token.js';
