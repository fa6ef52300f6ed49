/**
 * triode: Trio's structured concurrency for Node.js.
 *
 * This file only re-exports; each name is documented where it is defined.
 */
export {
  Cancelled,
  TooSlowError,
  WouldBlock,
  EndOfChannel,
  ClosedResourceError,
  BrokenResourceError,
  BusyResourceError,
  RunFinishedError,
  KeyboardInterrupt,
  BrokenWorkerError,
  TriodeInternalError,
  CalledProcessError,
  ExceptionGroup,
} from './shared/errors.js';
export type { ErrorMatcher } from './shared/errors.js';

export { run } from './main/core/runner.js';
export type { RunOptions } from './main/core/runner.js';
export type { Clock } from './main/core/clock.js';
export type { Instrument } from './main/core/instruments.js';
export { openNursery, Nursery, TASK_STATUS_IGNORED } from './main/core/nursery.js';
export type { TaskStatus } from './main/core/nursery.js';
export { CancelScope } from './main/core/cancel-scope.js';
export type { CancelScopeOptions } from './main/core/cancel-scope.js';
export {
  moveOnAfter,
  moveOnAt,
  failAfter,
  failAt,
  currentEffectiveDeadline,
} from './main/core/timeouts.js';
export type { TimeoutOptions } from './main/core/timeouts.js';
export { checkpoint, checkpointIfCancelled } from './main/core/checkpoint.js';
export { sleep, sleepUntil, sleepForever, currentTime } from './main/core/sleep.js';
export { currentAbortSignal, abandonOnCancel } from './main/core/abort-signal.js';
export { TaskLocal, RunVar, Token } from './main/core/task-local.js';
export type { LocalOptions, TaskLocalOptions } from './main/core/task-local.js';
export { dumpTaskTree } from './main/core/dump.js';
export type { Task } from './main/core/task.js';

export { Event } from './main/sync/event.js';
export type { EventStatistics } from './main/sync/event.js';
export { Lock, StrictFIFOLock } from './main/sync/lock.js';
export type { LockStatistics } from './main/sync/lock.js';
export { Semaphore } from './main/sync/semaphore.js';
export type { SemaphoreStatistics } from './main/sync/semaphore.js';
export { Condition } from './main/sync/condition.js';
export type { ConditionStatistics } from './main/sync/condition.js';
export { CapacityLimiter } from './main/sync/capacity-limiter.js';
export type { CapacityLimiterStatistics } from './main/sync/capacity-limiter.js';

export { openMemoryChannel, MemorySendChannel, MemoryReceiveChannel } from './main/channels/memory-channel.js';
export type { MemoryChannelStatistics } from './main/channels/memory-channel.js';
export { openSharedChannel, SharedSendChannel, SharedReceiveChannel } from './main/channels/shared-channel.js';
export type { SharedChannelOptions, SharedChannelStatistics } from './main/channels/shared-channel.js';

export * as lowlevel from './main/lowlevel.js';

export { runInWorker, workerModule } from './main/workers/run-in-worker.js';
export type { WorkerCallOptions, WorkerModule, CancelMode } from './main/workers/run-in-worker.js';
export { WorkerPool, openWorkerPool } from './main/workers/pool.js';
export { workerCallback } from './main/workers/callbacks.js';
export { mapInWorkers, MapInWorkers } from './main/workers/map-in-workers.js';
export type { MapInWorkersOptions } from './main/workers/map-in-workers.js';
export type { WorkerPoolOptions, WorkerPoolStatistics } from './main/workers/pool.js';

export { openSignalReceiver, SignalReceiver } from './main/io/signals.js';
export { Path } from './main/io/path.js';
export { AsyncFile, openFile, wrapFile } from './main/io/async-file.js';
export type { Whence } from './main/io/async-file.js';
export { runProcess, Process } from './main/io/process.js';
export type { RunProcessOptions, RunProcessResult, CompletedProcess, OpenProcessOptions, StdioMode } from './main/io/process.js';

export type {
  AsyncResource,
  SendStream,
  ReceiveStream,
  Stream,
  HalfCloseableStream,
  Listener,
} from './main/streams/abc.js';
export { StapledStream } from './main/streams/stapled-stream.js';
export { acloseForcefully } from './main/streams/aclose-forcefully.js';
export { SocketStream } from './main/streams/socket-stream.js';
export { SocketListener } from './main/streams/socket-listener.js';
export { openTcpStream, openTcpListeners, serveTcp } from './main/streams/tcp.js';
export type { OpenTcpStreamOptions, OpenTcpListenersOptions, ServeTcpOptions } from './main/streams/tcp.js';
export { serveListeners } from './main/streams/serve.js';
export type { ServeListenersOptions } from './main/streams/serve.js';
export { openUnixSocket, openUnixListener, serveUnix } from './main/streams/unix.js';
export { TLSStream, TLSListener, openTlsOverTcpStream, serveTlsOverTcp } from './main/streams/tls-stream.js';
export type { TLSStreamOptions, ServeTlsOverTcpOptions } from './main/streams/tls-stream.js';
export type { UnixListenerOptions, ServeUnixOptions } from './main/streams/unix.js';
