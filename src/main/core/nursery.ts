/**
 * Nurseries: the only place tasks come from, and the reason no task outlives its block.
 *
 * `openNursery(body)` runs `body(nursery)` in the calling task inside the nursery's own cancel
 * scope, then waits for every child. The first error (from the body or any child) cancels the
 * scope, so the siblings unwind; every error is collected, and the nursery rejects with one
 * `ExceptionGroup` holding them all (always a group, as in Trio's strict mode). The `Cancelled`
 * errors the nursery's own cancellation caused are absorbed by its scope.
 *
 * Children run under the nursery's cancel status, not under the scopes around the `startSoon`
 * call: the nursery is where they live.
 */
import { ExceptionGroup, soleError, TriodeInternalError } from '../../shared/errors.js';
import { CancelScope } from './cancel-scope.js';
import { CancelStatus, type StatusOwner } from './cancel-status.js';
import { macrotaskDue, yieldToEventLoop } from './checkpoint.js';
import { currentContext, storage, type Context } from './context.js';
import { Task, type TaskNursery } from './task.js';
import { Abort, blockTask } from './traps.js';
import { checkFunction } from './validate.js';

/** What a task started with `nursery.start` uses to say it is ready. */
export interface TaskStatus<T = unknown> {
  /** Moves the task into the target nursery and resolves `start()` with `value`. Once only. */
  started(value?: T): void;
}

/** The `taskStatus` of a task started with `startSoon`: `started()` does nothing. */
export const TASK_STATUS_IGNORED: TaskStatus<never> = Object.freeze({
  started(): void {},
});

const NO_ERROR = Symbol('no error');

export class Nursery implements TaskNursery {
  /** The nursery's cancel scope: cancelling it cancels the body and every child. */
  readonly cancelScope: CancelScope;
  /** The task that opened the nursery. */
  readonly parentTask: Task;
  // The children, oldest first: a list linked through the tasks themselves (Task.prevSibling/nextSibling), so
  // spawning and exiting allocate nothing and cost O(1) at any size (a Set of 100,000 tasks
  // churns its hash table as they come and go).
  private firstChild: Task | undefined = undefined;
  private lastChild: Task | undefined = undefined;
  /** @internal the number of children */
  childCount = 0;
  /** @internal */ readonly errors: unknown[] = [];
  /** @internal */ closed = false;
  /** @internal `start()` calls aimed at this nursery whose task has not called started() or exited. */
  pendingStarts = 0;
  /** @internal */ readonly status: CancelStatus;
  private wakeParent: (() => void) | undefined;

  /** @internal use openNursery */
  constructor(parentTask: Task, scope: CancelScope) {
    this.parentTask = parentTask;
    this.cancelScope = scope;
    this.status = scope.status!;
  }

  /** The tasks running in this nursery now. */
  get childTasks(): Task[] {
    const out: Task[] = [];
    for (let t = this.firstChild; t !== undefined; t = t.nextSibling) out.push(t);
    return out;
  }

  /** @internal */
  addChild(task: Task): void {
    task.prevSibling = this.lastChild;
    task.nextSibling = undefined;
    if (this.lastChild === undefined) this.firstChild = task;
    else this.lastChild.nextSibling = task;
    this.lastChild = task;
    this.childCount++;
  }

  /** @internal takes `task`, a child of this nursery, out of the children. */
  removeChild(task: Task): void {
    const { prevSibling: prev, nextSibling: next } = task;
    if (prev !== undefined) prev.nextSibling = next;
    else if (this.firstChild === task) this.firstChild = next;
    else return;
    if (next !== undefined) next.prevSibling = prev;
    else this.lastChild = prev;
    task.prevSibling = task.nextSibling = undefined;
    this.childCount--;
  }

  /**
   * Starts `fn(...args)` as a child task, soon (after the caller's next await). Not a checkpoint;
   * returns at once. The child runs under the nursery's cancel scopes.
   */
  startSoon<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
    checkFunction('Nursery.startSoon', 'fn', fn);
    const ctx = currentContext('Nursery.startSoon');
    if (this.closed) throw new Error('Nursery.startSoon: the nursery is closed to new tasks (its block has exited)');
    spawnTask(ctx.task, this, fn as (...args: unknown[]) => unknown, args);
  }

  /**
   * Starts `fn(...args, taskStatus)` and waits until it calls `taskStatus.started(value)`; then the
   * task moves into this nursery and `start` resolves with `value`. Until then the task runs
   * under the caller's cancel scopes, and an error it throws rejects `start` itself. A
   * checkpoint; cancelling the caller before `started()` cancels the task.
   *
   * ```ts
   * const port = await nursery.start(serve, 0); // serve(port, taskStatus) calls taskStatus.started(realPort)
   * ```
   */
  async start<T = unknown, A extends unknown[] = []>(
    fn: (...args: [...A, TaskStatus<T>]) => unknown,
    ...args: A
  ): Promise<T> {
    checkFunction('Nursery.start', 'fn', fn);
    const ctx = currentContext('Nursery.start');
    if (this.closed) throw new Error('Nursery.start: the nursery is closed to new tasks (its block has exited)');
    // Pending starts keep this nursery open (Trio's _pending_starts), so started() always finds it.
    this.pendingStarts++;
    let status: StartStatus<T> | undefined;
    try {
      await openNurseryIn(ctx, async (helper) => {
        status = new StartStatus<T>(helper, this);
        const task = spawnTask(ctx.task, helper, fn as (...args: unknown[]) => unknown, [...args, status]);
        // The task gets its own node in the cancel status tree: everything it does before
        // started() (its waits, its scopes, the AbortSignals it took) hangs under that node, and
        // started() moves the node — and so all of it — under the target nursery at once.
        task.status = new CancelStatus(new StartingTask(task), helper.status);
        task.ownsStatus = true;
        status.task = task;
      }, 'nursery.start');
    } catch (error) {
      // Errors before started() belong to start() itself, unwrapped when there is one.
      throw soleError(error);
    } finally {
      this.pendingStarts--;
      this.maybeWakeParent();
    }
    if (!status!.calledStarted) {
      throw new Error(`Nursery.start: task ${status!.task!.name} exited without calling taskStatus.started()`);
    }
    return status!.value as T;
  }

  /** @internal */
  addError(error: unknown): void {
    this.errors.push(error);
    this.cancelScope.cancel('a task in the nursery failed');
  }

  /** @internal a child finished; `error` is NO_ERROR when it returned normally. */
  childExited(task: Task, error: unknown): void {
    this.removeChild(task);
    if (error !== NO_ERROR) this.addError(error);
    this.maybeWakeParent();
  }

  /** @internal */
  maybeWakeParent(): void {
    if (this.childCount === 0 && this.pendingStarts === 0 && this.wakeParent !== undefined) this.wakeParent();
  }

  /**
   * @internal blocks the parent until every child has exited and no `start()` aimed here is
   * pending. The parent waits under the nursery's own status, so when the wait is cancelled the
   * children already are: there is nothing to do but keep waiting (no child may outlive the
   * nursery), and nothing is added to the nursery's errors (Trio, gh-1457).
   */
  async waitForChildren(): Promise<void> {
    while (this.childCount > 0 || this.pendingStarts > 0) {
      const wait = blockTask(currentContext('openNursery'), () => Abort.FAILED, 'a nursery waiting for its children');
      this.wakeParent = () => {
        this.wakeParent = undefined;
        wait.reschedule(undefined);
      };
      await wait.promise;
    }
  }

  toString(): string {
    return `<Nursery of ${this.parentTask.name}: ${this.childCount} children>`;
  }
}

/** The cancel-status owner of a task being started: never cancelled itself, named for dumps. */
class StartingTask implements StatusOwner {
  readonly cancelCalled = false;
  readonly shield = false;
  readonly cancelReason = undefined;
  constructor(private readonly task: Task) {}
  describe(): string {
    return `task ${this.task.name}`;
  }
}

class StartStatus<T> implements TaskStatus<T> {
  calledStarted = false;
  value: T | undefined;
  task: Task | undefined;

  constructor(
    private readonly helper: Nursery,
    private readonly target: Nursery,
  ) {}

  started(value?: T): void {
    if (this.calledStarted) throw new Error('taskStatus.started() was called more than once');
    const task = this.task;
    if (task === undefined || task.parentNursery !== this.helper) {
      throw new Error('taskStatus.started() was called for a task that is not being started');
    }
    this.calledStarted = true;
    this.value = value;
    // The start() call is being cancelled: stay put. The task unwinds where it is, and start()
    // raises the Cancelled; moving it now would carry that Cancelled into a nursery whose scopes
    // did not cause it (Trio does the same).
    if (this.helper.status.effectivelyCancelled) return;
    if (this.target.closed) {
      throw new TriodeInternalError('taskStatus.started(): the target nursery closed while a start() was pending');
    }
    // Detach everything from the helper before attaching anything to the target: attaching under
    // a cancelled target runs abort functions, which must find the task already moved.
    this.helper.removeChild(task);
    task.parentNursery = this.target;
    this.target.addChild(task);
    task.status.reparent(this.target.status);
    this.helper.maybeWakeParent(); // the helper has no child left: start() can return
  }
}

/**
 * Opens a nursery, runs `body(nursery)`, waits for every child, and rejects with an
 * `ExceptionGroup` of every error if any task failed. A checkpoint (through its wait for the
 * children). Cancelling it cancels the body and all children; it still waits for them all.
 *
 * ```ts
 * await openNursery(async (nursery) => {
 *   nursery.startSoon(fetchUser, 1);
 *   nursery.startSoon(fetchUser, 2);
 * }); // both finished here, or both cancelled if one failed
 * ```
 */
export function openNursery<R>(body: (nursery: Nursery) => Promise<R> | R): Promise<R> {
  let ctx: Context;
  try {
    checkFunction('openNursery', 'body', body);
    ctx = currentContext('openNursery');
  } catch (error) {
    return Promise.reject(error);
  }
  return openNurseryIn(ctx, body, 'nursery') as Promise<R>;
}

/** @internal */
export async function openNurseryIn<R>(
  ctx: Context,
  body: (nursery: Nursery) => Promise<R> | R,
  label: string,
): Promise<R | undefined> {
  const scope = new CancelScope();
  scope.label = label;
  let bodyReturned = false;
  let value: R | undefined;
  const result = await scope.runIn(ctx, async () => {
    const task = ctx.task;
    const nursery = new Nursery(task, scope);
    task.nurseryOpened(nursery);
    try {
      value = await body(nursery);
      bodyReturned = true;
    } catch (error) {
      nursery.addError(error);
    }
    try {
      await nursery.waitForChildren();
    } finally {
      nursery.closed = true;
      task.nurseryClosed(nursery);
    }
    if (nursery.errors.length > 0) {
      throw ExceptionGroup.counted(describeErrors, nursery.errors);
    }
    return value;
  });
  // A body that returned keeps its value even when the nursery's own cancellation was absorbed
  // while it waited for the children.
  return bodyReturned ? value : result;
}

function describeErrors(n: number): string {
  return n === 1 ? 'a task in the nursery failed' : `${n} errors in the nursery`;
}

/** Tasks created but not started yet, started together from one microtask. */
let pendingStarts: Array<Task | ((...args: unknown[]) => unknown) | unknown[]> = [];
/** Tasks started between two looks at the clock (each start runs the task to its first await). */
const STARTS_PER_CLOCK_READ = 16;

/**
 * Starts the pending tasks in spawn order. A large batch is cut when the event loop is due a
 * turn (checkpoint.ts: 2 ms on the main thread), and the rest start after that turn, in order
 * and before anything spawned later: a thousand tasks spawned at once hold timers, I/O and
 * Ctrl-C back no longer than any run of checkpoints does.
 */
function startPending(): void {
  const batch = pendingStarts;
  pendingStarts = [];
  for (let i = 0; i < batch.length; i += 3) {
    if (i > 0 && i % (3 * STARTS_PER_CLOCK_READ) === 0 && macrotaskDue()) {
      // Spawned meanwhile (by the tasks just started) queue behind the rest of this batch.
      pendingStarts = batch.slice(i).concat(pendingStarts);
      void yieldToEventLoop().then(startPending);
      return;
    }
    const task = batch[i] as Task;
    storage.run(task, runTask, task, batch[i + 1] as (...args: unknown[]) => unknown, batch[i + 2] as unknown[]);
  }
}

/**
 * @internal creates a task running `fn(...args)` as a child of `nursery`. It starts soon: after
 * the spawner's current synchronous step, together with every other task spawned in it (one
 * microtask for the batch rather than one per task).
 */
export function spawnTask(
  spawner: Task,
  nursery: Nursery,
  fn: (...args: unknown[]) => unknown,
  args: unknown[],
  name: string = fn.name || '(anonymous)',
): Task {
  const runner = nursery.parentTask.runner;
  spawner.localsShared = true;
  const task = new Task(runner, name, nursery, spawner.locals, nursery.status);
  nursery.addChild(task);
  runner.taskSpawned(task);
  if (pendingStarts.length === 0) queueMicrotask(startPending);
  pendingStarts.push(task, fn, args);
  return task;
}

/**
 * A task's own async frame. Kept to the await and nothing else: a suspended async function keeps
 * every register of its body alive, so the exit work lives in `taskExited` (a sleeping task's
 * frame is ~100 bytes smaller for it).
 */
async function runTask(task: Task, fn: (...args: unknown[]) => unknown, args: unknown[]): Promise<void> {
  try {
    await fn(...args);
  } catch (error) {
    taskExited(task, error);
    return;
  }
  taskExited(task, NO_ERROR);
}

function taskExited(task: Task, error: unknown): void {
  if (task.lotBreakers !== undefined) {
    for (const lot of task.lotBreakers) lot.breakLot(task);
    task.lotBreakers = undefined;
  }
  if (task.ownsStatus) task.status.detach();
  task.runner.taskExited(task);
  task.parentNursery!.childExited(task, error);
}
