/**
 * Cancel scopes: the one way to cancel anything in triode.
 *
 * `scope.run(fn)` enters the scope: it creates a node in the cancel status tree (see
 * `cancel-status.ts`) under the status of the calling code and runs `fn` with that node as the
 * current status. Cancelling the scope (by `cancel()`, its deadline, or its AbortSignal) makes
 * every checkpoint under it raise `Cancelled` until the body finishes; when the body then exits
 * with that `Cancelled` (alone or inside an ExceptionGroup), the scope absorbs it, sets
 * `cancelledCaught`, and `run` resolves with `undefined`.
 *
 * Which scope absorbs: a scope catches `Cancelled` when it is effectively cancelled and its
 * parent's cancellation is not visible to it (the parent is not cancelled, or this scope is
 * shielded). So when nested scopes are all cancelled, the outermost one catches, and the body
 * of every inner one unwinds, exactly as in Trio.
 */
import { ExceptionGroup, isCancellation } from '../../shared/errors.js';
import { CancelStatus, type StatusOwner } from './cancel-status.js';
import { macrotaskDue, yieldToEventLoop } from './checkpoint.js';
import { currentContext, peekContext, storage, type Context } from './context.js';
import type { DeadlineEntry, DeadlineOwner } from './deadlines.js';
import type { RunHost } from './task.js';
import { checkDeadline, checkDuration, describe, checkOptions } from './validate.js';

export interface CancelScopeOptions {
  /** Absolute deadline in ms on the run's clock (see `currentTime()`). */
  deadline?: number;
  /** Deadline relative to when the scope is entered, in ms. Not with `deadline`. */
  relativeDeadline?: number;
  /** When true, cancellations from outside the scope do not reach code inside it. */
  shield?: boolean;
  /** The scope is cancelled when this signal aborts (at once, if it already has). */
  signal?: AbortSignal;
}

type ScopeState = 'idle' | 'entered' | 'exited';

/**
 * A region of code that can be cancelled as a whole, with an optional deadline.
 *
 * ```ts
 * const scope = new CancelScope({ relativeDeadline: 1000 });
 * const value = await scope.run(async () => fetchSlowly(currentAbortSignal()));
 * if (scope.cancelledCaught) console.log('gave up after 1s');
 * ```
 *
 * `run` is a checkpoint only through what its body does. A scope can be run once.
 */
export class CancelScope implements StatusOwner, DeadlineOwner {
  private _deadline: number;
  private _relativeDeadline: number;
  private _shield: boolean;
  private _cancelCalled = false;
  private _cancelledCaught = false;
  private _cancelReason: string | undefined;
  private state: ScopeState = 'idle';
  private runner: RunHost | undefined;
  private deadlineEntry: DeadlineEntry | undefined;
  private readonly signal: AbortSignal | undefined;
  private onSignalAbort: (() => void) | undefined;
  /** The scope's node in the cancel status tree, while entered. */
  status: CancelStatus | undefined;
  /** What this scope belongs to, for dumps ("nursery", "moveOnAfter(100)", …). */
  label = 'CancelScope';

  constructor(options: CancelScopeOptions = {}) {
    checkOptions('CancelScope', options);
    const { deadline, relativeDeadline, shield = false, signal } = options;
    if (deadline !== undefined && relativeDeadline !== undefined) {
      throw new TypeError('CancelScope: give deadline or relativeDeadline, not both');
    }
    this._deadline = deadline === undefined ? Infinity : checkDeadline('CancelScope', 'deadline', deadline);
    this._relativeDeadline =
      relativeDeadline === undefined ? Infinity : checkDuration('CancelScope', 'relativeDeadline', relativeDeadline);
    if (typeof shield !== 'boolean') {
      throw new TypeError(`CancelScope: shield must be a boolean, got ${describe(shield)}`);
    }
    this._shield = shield;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(`CancelScope: signal must be an AbortSignal, got ${describe(signal)}`);
    }
    this.signal = signal;
  }

  /**
   * True once `cancel()` was called or the deadline passed — also before entry, when read inside
   * a run whose clock is past the deadline (as in Trio, reading it then cancels the scope).
   */
  get cancelCalled(): boolean {
    if (!this._cancelCalled && this.state !== 'exited' && this._deadline !== Infinity) {
      const runner = this.runner ?? peekContext()?.task.runner;
      if (runner !== undefined && runner.clock.currentTime() >= this._deadline) {
        this.cancel(`deadline of ${this.label} exceeded`);
      }
    }
    return this._cancelCalled;
  }

  /** True when the body exited with a `Cancelled` that this scope absorbed. */
  get cancelledCaught(): boolean {
    return this._cancelledCaught;
  }

  get cancelReason(): string | undefined {
    return this._cancelReason;
  }

  /**
   * Absolute deadline in ms on the run's clock; Infinity when none. Settable at any time. A scope
   * made with `relativeDeadline` has no absolute deadline until it is entered: reading or setting
   * `deadline` before then throws (set `relativeDeadline = Infinity` first to make it absolute).
   */
  get deadline(): number {
    if (this._relativeDeadline !== Infinity) throw unenteredRelative('read');
    return this._deadline;
  }

  set deadline(value: number) {
    checkDeadline('CancelScope.deadline', 'deadline', value);
    if (this._relativeDeadline !== Infinity) throw unenteredRelative('set');
    this._deadline = value;
    if (this.state === 'entered') this.registerDeadline();
  }

  /**
   * The deadline relative to now (once entered) or to entry (before it). Setting it once entered
   * moves the absolute deadline to now + value; before entry it only works on a scope without an
   * absolute deadline (a scope has one kind of deadline until it is entered).
   */
  get relativeDeadline(): number {
    if (this.state !== 'idle' && this.runner !== undefined) {
      return this._deadline - this.runner.clock.currentTime();
    }
    if (this._deadline !== Infinity) {
      throw new Error('CancelScope.relativeDeadline cannot be read before entry on a scope with an absolute deadline (read deadline)');
    }
    return this._relativeDeadline;
  }

  set relativeDeadline(value: number) {
    checkDuration('CancelScope.relativeDeadline', 'relativeDeadline', value);
    if (this.state !== 'idle' && this.runner !== undefined) {
      this._deadline = this.runner.clock.currentTime() + value;
      if (this.state === 'entered') this.registerDeadline();
    } else if (this._deadline !== Infinity) {
      throw new Error(
        'CancelScope.relativeDeadline cannot be set before entry on a scope with an absolute deadline; ' +
          'set deadline = Infinity first',
      );
    } else {
      this._relativeDeadline = value;
    }
  }

  /** Whether outside cancellations are kept out. Takes effect at once, also while entered. */
  get shield(): boolean {
    return this._shield;
  }

  set shield(value: boolean) {
    if (typeof value !== 'boolean') {
      throw new TypeError(`CancelScope.shield must be a boolean, got ${describe(value)}`);
    }
    this._shield = value;
    if (this.state === 'entered') this.status!.recalculate();
  }

  /**
   * Cancels the scope: every checkpoint inside raises `Cancelled` from now on. Idempotent; not a
   * checkpoint; may be called before entry (the body then starts cancelled) or after exit (no
   * effect but `cancelCalled`).
   */
  cancel(reason?: string): void {
    if (this._cancelCalled) return;
    this._cancelCalled = true;
    this._cancelReason = reason;
    if (this.deadlineEntry !== undefined) {
      this.runner!.removeDeadline(this.deadlineEntry);
      this.deadlineEntry = undefined;
    }
    // (While entering, the status node may not exist yet: it reads cancelCalled when made.)
    if (this.state === 'entered' && this.status !== undefined) this.status.recalculate();
  }

  /** @internal the deadline heap calls this when the deadline passes. */
  deadlineExpired(): void {
    this.deadlineEntry = undefined;
    this.cancel(`deadline of ${this.label} exceeded`);
  }

  describe(): string {
    return this.label;
  }

  /**
   * Runs `fn(scope)` inside the scope. Resolves with its value, or with `undefined` when the body
   * was cancelled by this scope; rejects with anything else it threw.
   */
  run<T>(fn: (scope: this) => Promise<T> | T): Promise<T | undefined> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`CancelScope.run: fn must be a function, got ${describe(fn)}`));
    }
    let ctx: Context;
    try {
      ctx = currentContext('CancelScope.run');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.runIn(ctx, fn);
  }

  /** @internal enter under `ctx`, run `fn`, exit. */
  async runIn<T>(ctx: Context, fn: (scope: this) => Promise<T> | T): Promise<T | undefined> {
    const status = this.enter(ctx);
    let failed = false;
    let error: unknown;
    let value: T | undefined;
    try {
      value = await storage.run({ task: ctx.task, status }, fn, this);
    } catch (e) {
      failed = true;
      error = e;
    }
    const result = this.exit(status, failed, error, value);
    // A scope that absorbed a cancellation raised on entry may have run without ever yielding to
    // the event loop; a loop of such scopes must still let timers and I/O run now and then.
    if (this._cancelledCaught && macrotaskDue()) await yieldToEventLoop();
    return result;
  }

  private enter(ctx: Context): CancelStatus {
    if (this.state !== 'idle') {
      throw new Error('CancelScope: a cancel scope can be run only once; create a new one');
    }
    this.state = 'entered';
    const runner = ctx.task.runner;
    this.runner = runner;
    if (this._relativeDeadline !== Infinity) {
      this._deadline = runner.clock.currentTime() + this._relativeDeadline;
      this._relativeDeadline = Infinity;
    }
    const status = new CancelStatus(this, ctx.status);
    this.status = status;
    if (this.signal !== undefined) {
      const signal = this.signal;
      if (signal.aborted) {
        this.cancel(abortReason(signal));
      } else {
        this.onSignalAbort = () => this.cancel(abortReason(signal));
        signal.addEventListener('abort', this.onSignalAbort, { once: true });
      }
    }
    this.registerDeadline();
    return status;
  }

  private registerDeadline(): void {
    const runner = this.runner!;
    if (this.deadlineEntry !== undefined) {
      runner.removeDeadline(this.deadlineEntry);
      this.deadlineEntry = undefined;
    }
    if (this._cancelCalled || this._deadline === Infinity) return;
    if (this._deadline <= runner.clock.currentTime()) {
      // Already due: cancel now rather than after the timer fires, so the very next checkpoint sees it.
      this.deadlineExpired();
      return;
    }
    this.deadlineEntry = runner.addDeadline(this._deadline, this);
  }

  private exit<T>(status: CancelStatus, failed: boolean, error: unknown, value: T | undefined): T | undefined {
    this.state = 'exited';
    if (this.deadlineEntry !== undefined) {
      this.runner!.removeDeadline(this.deadlineEntry);
      this.deadlineEntry = undefined;
    }
    if (this.onSignalAbort !== undefined) {
      this.signal!.removeEventListener('abort', this.onSignalAbort);
      this.onSignalAbort = undefined;
    }
    const dangling = status.children !== undefined && status.children.size > 0;
    const catches =
      status.effectivelyCancelled &&
      !(status.parent !== undefined && status.parent.effectivelyCancelled && !this._shield);
    status.detach();
    if (dangling) {
      for (const child of status.children!) child.exited = true;
      throw new Error(
        `${this.label} exited while a cancel scope opened inside it was still running: an async ` +
          'operation was left running after the body returned (await everything inside the body)',
        failed ? { cause: error } : undefined,
      );
    }
    if (!failed) return value;
    if (catches) {
      if (isCancellation(error)) {
        this._cancelledCaught = true;
        return undefined;
      }
      if (error instanceof ExceptionGroup) {
        const [cancelled, rest] = error.split(isCancellation);
        if (cancelled !== undefined) this._cancelledCaught = true;
        if (rest === undefined) return undefined;
        throw rest;
      }
    }
    throw error;
  }
}

function unenteredRelative(verb: string): Error {
  return new Error(
    `CancelScope.deadline cannot be ${verb} before a scope with a relativeDeadline is entered (its ` +
      'deadline is fixed on entry); use relativeDeadline, or set relativeDeadline = Infinity first',
  );
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return `AbortSignal aborted: ${reason.message}`;
  return reason === undefined ? 'AbortSignal aborted' : `AbortSignal aborted: ${String(reason)}`;
}
