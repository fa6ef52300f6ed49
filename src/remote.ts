/**
 * triode/remote: worker calls past one machine, through BullMQ on Redis (DESIGN §4 "Past one
 * machine"). Loads `bullmq` and `ioredis` (optional peer dependencies); nothing else in triode
 * does. Re-exports only.
 */
export { RemotePool, openRemotePool } from './remote/remote-pool.js';
export type { RemotePoolOptions } from './remote/remote-pool.js';
export { RemoteWorker } from './remote/remote-worker.js';
export type { RemoteWorkerOptions } from './remote/remote-worker.js';
