/**
 * One run: `run(fn)` and the state it owns.
 *
 * There is no scheduler loop: tasks are async functions and Node's microtask queue runs them.
 * What a run adds is bookkeeping the loop would otherwise do:
 *
 * - a task tree: a root task holds the system nursery, which holds the main task (running `fn`)
 *   and any system tasks; when the main task finishes the system nursery is cancelled;
 * - deadlines: one heap (`deadlines.ts`) and at most one Node timer, armed for the earliest;
 * - idleness: counts of living and blocked tasks, so that `waitAllTasksBlocked` and MockClock's
 *   autojump know when every task is blocked (checked again after the microtask queue drains);
 * - a keep-alive handle while the run is active, so a run whose tasks all wait on each other
 *   does not let the process exit under it (Trio would block; so do we, until Ctrl-C). Every
 *   other timer of the run is unref'd, and everything is released when the run settles;
 * - SIGINT (main thread only, see `sigint.ts`).
 */
import { ExceptionGroup, isCancellation, KeyboardInterrupt, TriodeInternalError } from '../../shared/errors.js';
import { CancelStatus, type StatusOwner } from './cancel-status.js';
import { checkClock, isAutojumpClock, SystemClock, type AutojumpClock, type Clock, type ClockListener } from './clock.js';
import { peekContext, runEnded, runStarted, storage, type Context } from './context.js';
import { Deadlines, type DeadlineEntry, type DeadlineOwner } from './deadlines.js';
import { callInstruments, checkInstrument, type Instrument, type InstrumentHook } from './instruments.js';
import { openNurseryIn, spawnTask, type Nursery } from './nursery.js';
import { registerRun, unregisterRun } from './sigint.js';
import { Task, type RunHost } from './task.js';
import { TrioToken, type TokenHost } from './trio-token.js';
import type { Wait } from './traps.js';
import { checkFunction, checkOptions } from './validate.js';

export interface RunOptions {
  /** The clock deadlines and `currentTime()` use. Default: the system's monotonic clock. */
  clock?: Clock;
  /** Instruments to install for the whole run. */
  instruments?: Instrument[];
}

interface IdleWaiter {
  readonly cushion: number;
  readonly seq: number;
  wait: Wait | undefined;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const runRoot: StatusOwner = {
  cancelCalled: false,
  shield: false,
  cancelReason: undefined,
  describe: () => 'run',
};

export class Runner implements ClockListener, RunHost, TokenHost {
  readonly clock: Clock;
  readonly instruments: Instrument[];
  readonly runVars = new Map<object, unknown>();
  finished = false;
  liveTasks = 0;
  blockedTasks = 0;
  rootTask!: Task;
  systemNursery!: Nursery;
  mainTask: Task | undefined;
  kiPending = false;

  private readonly deadlines = new Deadlines();
  private timer: NodeJS.Timeout | undefined;
  private timerDeadline = Infinity;
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly autojumpClock: AutojumpClock | undefined;
  private idleEpoch = 0;
  private idleScheduled = false;
  private idleSeq = 0;
  private readonly idleWaiters: IdleWaiter[] = [];
  private readonly systemErrors: unknown[] = [];
  private token: TrioToken | undefined;

  constructor(clock: Clock, instruments: Instrument[]) {
    this.clock = clock;
    this.instruments = instruments;
    this.autojumpClock = isAutojumpClock(clock) ? clock : undefined;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    this.callInstruments('beforeRun');
    runStarted();
    this.keepAlive = setInterval(() => {}, MAX_TIMER_MS);
    registerRun(this);
    this.clock.startClock?.();
    this.autojumpClock?.attachListener(this);

    const root = new Task(this, '<init>', undefined, new Map(), new CancelStatus(runRoot, undefined));
    const rootCtx: Context = root;
    this.rootTask = root;
    this.liveTasks = 1;

    let outcome: { value: T } | { error: unknown } | undefined;
    const main = async (): Promise<void> => {
      try {
        outcome = { value: await fn() };
      } catch (error) {
        outcome = { error };
      } finally {
        this.systemNursery.cancelScope.cancel('the main task finished');
      }
    };
    Object.defineProperty(main, 'name', { value: fn.name || 'main' });
    try {
      await storage.run(rootCtx, () =>
        openNurseryIn(rootCtx, (system) => {
          this.systemNursery = system;
          this.mainTask = spawnTask(root, system, main, []);
        }, 'system nursery'),
      );
    } catch (error) {
      this.systemErrors.push(error);
    } finally {
      // Calls handed in through the token before the end still run (in the root context).
      this.token?.close();
      this.finish();
    }

    if (this.systemErrors.length > 0) {
      const cause = this.systemErrors.length === 1 ? this.systemErrors[0] : new ExceptionGroup('system task errors', this.systemErrors);
      throw new TriodeInternalError('a system task raised an error; the run was crashed', { cause });
    }
    if (this.kiPending) {
      const error = outcome !== undefined && 'error' in outcome ? outcome.error : undefined;
      throw new KeyboardInterrupt(undefined, isOnlyCancelled(error) ? undefined : { cause: error });
    }
    if (outcome === undefined) throw new TriodeInternalError('the main task never finished');
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  private finish(): void {
    this.finished = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    unregisterRun(this);
    this.autojumpClock?.detachListener(this);
    this.callInstruments('afterRun');
    runEnded();
  }

  /** The run's TrioToken (made on first use). */
  trioToken(): TrioToken {
    return (this.token ??= new TrioToken(this));
  }

  /** Crashes the run: `run()` rejects with TriodeInternalError whose cause is `error`. */
  crash(error: unknown): void {
    // The crash is the cause; the Cancelleds its siblings raised while unwinding are not.
    this.systemErrors.push(error instanceof ExceptionGroup ? error.split(isCancellation)[1] : error);
    if (!this.systemNursery.closed) this.systemNursery.cancelScope.cancel('a system task crashed');
  }

  /** A system task: it lives in the system nursery, outside the main task's scopes. */
  spawnSystemTask(fn: (...args: unknown[]) => unknown, args: unknown[], name?: string): Task {
    const wrapped = async (): Promise<void> => {
      try {
        await fn(...args);
      } catch (error) {
        if (!isOnlyCancelled(error)) this.crash(error);
      }
    };
    return spawnTask(this.rootTask, this.systemNursery, wrapped, [], name ?? (fn.name || 'system task'));
  }

  /** Ctrl-C: cancel everything; the run then rejects with KeyboardInterrupt. */
  keyboardInterrupt(): void {
    if (this.finished) return;
    this.kiPending = true;
    this.systemNursery.cancelScope.cancel('KeyboardInterrupt (SIGINT)');
  }

  // ---- instruments --------------------------------------------------------------------------

  callInstruments(hook: InstrumentHook, task?: Task): void {
    if (this.instruments.length > 0) callInstruments(this.instruments, hook, task);
  }

  // ---- task accounting (for idleness) -------------------------------------------------------

  taskSpawned(task: Task): void {
    this.liveTasks++;
    this.idleEpoch++;
    this.callInstruments('taskSpawned', task);
  }

  taskExited(task: Task): void {
    this.liveTasks--;
    this.callInstruments('taskExited', task);
    if (this.blockedTasks === this.liveTasks) this.maybeIdle();
  }

  taskScheduledFromOutside(task: Task): void {
    this.callInstruments('taskScheduled', task);
  }

  taskBlocked(_task: Task): void {
    this.blockedTasks++;
    if (this.blockedTasks === this.liveTasks) this.maybeIdle();
  }

  taskUnblocked(task: Task): void {
    this.blockedTasks--;
    this.idleEpoch++;
    this.callInstruments('taskScheduled', task);
  }

  // ---- deadlines ------------------------------------------------------------------------------

  addDeadline(deadline: number, owner: DeadlineOwner): DeadlineEntry {
    const entry = this.deadlines.add(deadline, owner);
    if (deadline < this.timerDeadline) this.armTimer();
    return entry;
  }

  removeDeadline(entry: DeadlineEntry): void {
    // The timer stays armed; when it fires it finds nothing due and re-arms for the next one.
    this.deadlines.remove(entry);
  }

  nextDeadline(): number {
    return this.deadlines.next();
  }

  private armTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDeadline = Infinity;
    if (this.finished) return;
    const next = this.deadlines.next();
    if (next === Infinity) return;
    const sleep = this.clock.deadlineToSleepTime(next);
    if (!(sleep < Infinity)) return;
    this.timerDeadline = next;
    this.timer = setTimeout(this.onTimer, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(sleep))));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerDeadline = Infinity;
    this.expireDeadlines();
  };

  private expireDeadlines(): void {
    if (this.finished) return;
    const due = this.deadlines.popExpired(this.clock.currentTime());
    for (const owner of due) owner.deadlineExpired();
    this.armTimer();
  }

  clockChanged(): void {
    this.expireDeadlines();
  }

  autojumpChanged(): void {
    if (this.blockedTasks === this.liveTasks) this.maybeIdle();
  }

  // ---- idleness ------------------------------------------------------------------------------

  /** @internal for waitAllTasksBlocked: the waiter is woken when every task is blocked. */
  addIdleWaiter(cushion: number): IdleWaiter {
    const waiter: IdleWaiter = { cushion, seq: this.idleSeq++, wait: undefined };
    let i = this.idleWaiters.length;
    while (i > 0 && this.idleWaiters[i - 1]!.cushion > cushion) i--;
    this.idleWaiters.splice(i, 0, waiter);
    return waiter;
  }

  removeIdleWaiter(waiter: IdleWaiter): void {
    const i = this.idleWaiters.indexOf(waiter);
    if (i >= 0) this.idleWaiters.splice(i, 1);
  }

  private autojumpThreshold(): number {
    return this.autojumpClock === undefined ? Infinity : this.autojumpClock.autojumpThreshold;
  }

  private maybeIdle(): void {
    if (this.idleScheduled || this.finished) return;
    if (this.idleWaiters.length === 0 && this.autojumpThreshold() === Infinity) return;
    this.idleScheduled = true;
    // After the microtask queue drains: a task that is about to be rescheduled by a resolved
    // promise is not idle yet.
    // Not unref'd: an unref'd immediate does not stop the event loop from blocking in poll.
    setImmediate(this.checkIdle);
  }

  /**
   * What a run that is all blocked does next, as in Trio's run loop: the waiters with the smallest
   * cushion wake when that cushion is shorter than the real time to the next deadline (they take
   * priority over autojump: they wake without the clock moving); otherwise the clock autojumps
   * when its threshold is shorter; otherwise the deadline's own timer will end the idleness.
   */
  private idleAction(): { delay: number; autojump: boolean } | undefined {
    const next = this.deadlines.next();
    const untilDeadline = next === Infinity ? Infinity : Math.max(0, this.clock.deadlineToSleepTime(next));
    if (this.idleWaiters.length > 0) {
      const cushion = this.idleWaiters[0]!.cushion;
      if (cushion < untilDeadline) return { delay: cushion, autojump: false };
    }
    const threshold = this.autojumpThreshold();
    if (threshold < untilDeadline && next !== Infinity) return { delay: threshold, autojump: true };
    return undefined;
  }

  private readonly checkIdle = (): void => {
    this.idleScheduled = false;
    if (this.finished || this.blockedTasks !== this.liveTasks) return;
    const action = this.idleAction();
    if (action === undefined) return;
    if (action.delay === 0) {
      this.actOnIdle(action.autojump);
      return;
    }
    const epoch = this.idleEpoch;
    this.idleScheduled = true;
    setTimeout(() => {
      this.idleScheduled = false;
      if (this.finished || this.blockedTasks !== this.liveTasks) return;
      if (epoch === this.idleEpoch) this.actOnIdle(action.autojump);
      else this.maybeIdle();
    }, Math.min(MAX_TIMER_MS, action.delay)).unref();
  };

  private actOnIdle(autojump: boolean): void {
    if (autojump) {
      const next = this.deadlines.next();
      if (next === Infinity) return;
      this.autojumpClock!.jumpTo(next);
      this.expireDeadlines();
      return;
    }
    // Wake every waiter with the smallest cushion, in the order they started waiting.
    const cushion = this.idleWaiters[0]?.cushion;
    while (this.idleWaiters.length > 0 && this.idleWaiters[0]!.cushion === cushion) {
      const waiter = this.idleWaiters.shift()!;
      const wait = waiter.wait;
      waiter.wait = undefined;
      wait?.reschedule(undefined);
    }
  }
}

/**
 * The Runner of `task`'s run. Tasks know their run as a `RunHost` (task.ts names only what the
 * core's lower layers need); the layers above the runner get the whole of it here.
 */
export function runnerOf(task: Task): Runner {
  const host = task.runner;
  if (!(host instanceof Runner)) throw new TriodeInternalError(`task ${task.name} belongs to no Runner`);
  return host;
}

function isOnlyCancelled(error: unknown): boolean {
  if (isCancellation(error)) return true;
  if (error instanceof ExceptionGroup) return error.split(isCancellation)[1] === undefined;
  return false;
}

/**
 * Runs `fn` as the main task of a new triode run and resolves with its value (rejects with its
 * error). Everything triode does happens inside a run: tasks, cancel scopes, deadlines.
 *
 * On the main thread, Ctrl-C (SIGINT) cancels every task in the run (every `finally` runs) and
 * the run then rejects with `KeyboardInterrupt`; a second Ctrl-C while it shuts down gets Node's
 * default behaviour (the process exits). When `run` settles, triode leaves no timer or handler
 * behind. Calling `run` from inside a run rejects.
 *
 * ```ts
 * import { run, sleep } from 'triode';
 * await run(async () => {
 *   await sleep(100);
 *   console.log('done');
 * });
 * ```
 */
export async function run<T>(fn: () => Promise<T> | T, options: RunOptions = {}): Promise<T> {
  checkFunction('run', 'fn', fn);
  checkOptions('run', options);
  const current = peekContext();
  if (current !== undefined) {
    throw new Error(
      `run: triode.run() was called from inside a running triode.run() (task ${current.task.name}); ` +
        'runs cannot be nested: call the function directly, or start it in a nursery',
    );
  }
  const clock = options.clock === undefined ? new SystemClock() : checkClock(options.clock);
  const instruments = (options.instruments ?? []).map((i) => checkInstrument('run', i));
  return new Runner(clock, instruments).run(fn);
}
