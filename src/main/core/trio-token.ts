/**
 * TrioToken: handing work into a run from code that is not running in it.
 *
 * A foreign library's event handler, a `process.on('signal')` handler, a callback-style API:
 * such code runs on the run's thread but outside every task, so it cannot start tasks or touch
 * triode objects that need a task. The token it captured (`lowlevel.currentTrioToken()`) queues
 * work into the run:
 *
 * - `runSyncSoon(fn, ...args)` queues a synchronous call. The queue is drained in batches from a
 *   macrotask (`setImmediate`): FIFO, and a call queued by a call runs in the next batch, so a
 *   callback that keeps re-queueing itself never starves the run's tasks or its timers. The
 *   calls run in the run's root context (they may `spawnSystemTask`, `Event.set()`,
 *   `sendNowait`, …). A call that throws crashes the run as a crashing system task does; the
 *   queue goes on. Calls still queued when the run ends run before `run()` settles; from then
 *   on `runSyncSoon` throws `RunFinishedError`.
 * - `run(asyncFn, ...args)` runs `asyncFn` as a system task and settles with its outcome.
 *
 * A token belongs to one thread: worker code reaches its caller's run through `workerCallback`.
 */
import { isCancellation, RunFinishedError } from '../../shared/errors.js';
import { storage } from './context.js';
import { spawnTask, type Nursery } from './nursery.js';
import type { Task } from './task.js';
import { checkFunction } from './validate.js';

/** What a token needs of its run (the Runner). */
export interface TokenHost {
  readonly finished: boolean;
  readonly rootTask: Task;
  readonly systemNursery: Nursery;
  /** Crashes the run with `error`, as a crashing system task does. */
  crash(error: unknown): void;
}

type QueuedCall = { fn: (...args: unknown[]) => unknown; args: unknown[] };

export class TrioToken {
  private queue: QueuedCall[] = [];
  private drainScheduled = false;
  private closed = false;

  /** @internal one per run: `lowlevel.currentTrioToken()` */
  constructor(private readonly runner: TokenHost) {}

  /**
   * Queues `fn(...args)` to run inside the run as soon as possible. Callable from anywhere on the
   * run's thread, also outside any task. Not a checkpoint; throws `RunFinishedError` once the run
   * has ended.
   */
  runSyncSoon<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    checkFunction('TrioToken.runSyncSoon', 'fn', fn);
    if (this.closed) throw new RunFinishedError('TrioToken.runSyncSoon: the run has finished');
    this.queue.push({ fn: fn as (...args: unknown[]) => unknown, args });
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(this.drainBatch);
    }
  }

  /**
   * Runs `asyncFn(...args)` as a system task of the run (outside every task's cancel scopes) and
   * settles with what it returns or throws. For code outside the run; rejects with
   * `RunFinishedError` when the run has ended or ends before the task finishes.
   */
  run<T, A extends unknown[]>(asyncFn: (...args: A) => Promise<T> | T, ...args: A): Promise<T> {
    try {
      checkFunction('TrioToken.run', 'asyncFn', asyncFn);
    } catch (error) {
      return Promise.reject(error);
    }
    const runner = this.runner;
    return new Promise<T>((resolve, reject) => {
      const task = async (): Promise<void> => {
        try {
          resolve(await asyncFn(...args));
        } catch (error) {
          // Cancelled here means the run is shutting down its system tasks.
          reject(
            isCancellation(error) && runner.systemNursery.cancelScope.cancelCalled
              ? new RunFinishedError('TrioToken.run: the run ended before the task finished', { cause: error })
              : error,
          );
        }
      };
      Object.defineProperty(task, 'name', { value: asyncFn.name || 'TrioToken.run' });
      const start = (): void => {
        if (runner.finished || runner.systemNursery.closed || runner.systemNursery.cancelScope.cancelCalled) {
          reject(new RunFinishedError('TrioToken.run: the run has finished'));
          return;
        }
        spawnTask(runner.rootTask, runner.systemNursery, task, []);
      };
      try {
        this.runSyncSoon(start);
      } catch (error) {
        reject(error);
      }
    });
  }

  private readonly drainBatch = (): void => {
    this.drainScheduled = false;
    const batch = this.queue;
    this.queue = [];
    this.runCalls(batch);
    if (this.queue.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(this.drainBatch);
    }
  };

  private runCalls(batch: QueuedCall[]): void {
    const root = this.runner.rootTask;
    for (const { fn, args } of batch) {
      try {
        storage.run(root, fn, ...args);
      } catch (error) {
        this.runner.crash(error);
      }
    }
  }

  /**
   * @internal the run is ending: refuse new calls, then run what is still queued (a call that
   * queues another then gets RunFinishedError, so a self-requeueing call cannot keep the run alive).
   */
  close(): void {
    this.closed = true;
    const batch = this.queue;
    this.queue = [];
    this.runCalls(batch);
  }
}

