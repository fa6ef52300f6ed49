/**
 * triode's error classes. They live in `shared` because they cross thread boundaries: a worker
 * that throws `Cancelled` or `BrokenResourceError` must reject the main-thread call with the same
 * class, so both sides need the same definitions (see `error-wire.ts` for the wire form).
 */

/**
 * Raised at a checkpoint when the surrounding cancel scope (or one outside it) has been
 * cancelled. Let it propagate: the cancel scope that caused it absorbs it. Catching it and
 * carrying on breaks the cancellation contract (the scope stays cancelled, so the next
 * checkpoint raises it again).
 */
export class Cancelled extends Error {
  override name = 'Cancelled';
  /** The reason given to `CancelScope.cancel(reason)`, or a description of the deadline. */
  readonly reason: string | undefined;
  /**
   * Not for user code: only triode raises `Cancelled` (as Trio's has no public constructor), so
   * a scope never absorbs one that its own cancellation did not cause. Use `CancelScope.cancel()`.
   */
  constructor(reason?: string, key?: typeof cancelledKey) {
    if (key !== cancelledKey) {
      throw new TypeError(
        'Cancelled cannot be constructed by user code: cancel a scope (scope.cancel(), a deadline) instead',
      );
    }
    super(reason === undefined ? 'cancelled' : `cancelled: ${reason}`);
    this.reason = reason;
  }
}

const cancelledKey: unique symbol = Symbol('triode.Cancelled');

/**
 * @internal the one way to make a `Cancelled`. `withStack: false` skips capturing a stack, for a
 * Cancelled that reaches its catcher elsewhere (a blocked wait: the canceller's stack; a worker
 * call: another thread) and whose stack says nothing about the cancelled code — capturing and
 * formatting one costs more than the rest of the delivery (~60 µs of a worker call's cancel).
 */
export function createCancelled(reason?: string, withStack = true): Cancelled {
  if (withStack) return new Cancelled(reason, cancelledKey);
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new Cancelled(reason, cancelledKey);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * True for a `Cancelled`, and for the `AbortError` that an operation given
 * `currentAbortSignal()` rejects with (Node's APIs wrap the signal's reason, a `Cancelled`, as
 * the error's `cause`). Cancel scopes absorb both, so `await setTimeout(ms, v, { signal })`
 * inside a timeout behaves like a triode `sleep`.
 */
export function isCancellation(error: unknown): boolean {
  if (error instanceof Cancelled) return true;
  return (
    error instanceof Error &&
    error.name === 'AbortError' &&
    (error as { cause?: unknown }).cause instanceof Cancelled
  );
}

/** Raised by `failAfter` / `failAt` when their deadline expired before the body finished. */
export class TooSlowError extends Error {
  override name = 'TooSlowError';
}

/** Raised by the `*Nowait` operations when they would have had to wait. */
export class WouldBlock extends Error {
  override name = 'WouldBlock';
}

/** Raised by `receive` when the channel's buffer is empty and every send endpoint is closed. */
export class EndOfChannel extends Error {
  override name = 'EndOfChannel';
}

/** Raised when you use a resource (channel endpoint, stream, pool) that you closed yourself. */
export class ClosedResourceError extends Error {
  override name = 'ClosedResourceError';
}

/** Raised when a resource is unusable because of something its peer did (or failed to do). */
export class BrokenResourceError extends Error {
  override name = 'BrokenResourceError';
}

/** Raised when two tasks use a resource at once that only one may use at a time. */
export class BusyResourceError extends Error {
  override name = 'BusyResourceError';
}

/** Raised when a call needs a run that has already finished. */
export class RunFinishedError extends Error {
  override name = 'RunFinishedError';
}

/** The rejection of the outermost `run` after Ctrl-C (SIGINT) cancelled everything inside it. */
export class KeyboardInterrupt extends Error {
  override name = 'KeyboardInterrupt';
  constructor(message = 'interrupted by SIGINT (Ctrl-C)', options?: ErrorOptions) {
    super(message, options);
  }
}

/** The worker thread running a call died (exit, crash, out of memory) before it answered. */
export class BrokenWorkerError extends Error {
  override name = 'BrokenWorkerError';
}

/** A bug in triode itself, or a user callback that broke one of triode's invariants. */
export class TriodeInternalError extends Error {
  override name = 'TriodeInternalError';
}

/**
 * The one error of a group that holds exactly one, otherwise `error` itself. For internal
 * nurseries whose failure belongs to the caller unwrapped (nursery.start before started(), a
 * worker call with callbacks, runProcess's supervision).
 */
export function soleError(error: unknown): unknown {
  return error instanceof ExceptionGroup && error.errors.length === 1 ? error.errors[0] : error;
}

/** Matches errors in `ExceptionGroup.split` / `subgroup`: an error class or a predicate. */
export type ErrorMatcher =
  | (abstract new (...args: never[]) => unknown)
  | ((error: unknown) => boolean);

function toPredicate(matcher: ErrorMatcher): (error: unknown) => boolean {
  if (typeof matcher !== 'function') {
    throw new TypeError('matcher must be an error class or a predicate function');
  }
  // A class has a prototype object with a constructor; an arrow function has no prototype.
  // Ordinary `function` predicates would look like classes, so require Error subclasses to be
  // classes and treat everything else as a predicate.
  const proto = (matcher as { prototype?: unknown }).prototype;
  if (proto !== undefined && (proto === Error.prototype || proto instanceof Error)) {
    return (error) => error instanceof (matcher as abstract new () => unknown);
  }
  return matcher as (error: unknown) => boolean;
}

/**
 * Several errors raised together, like Python's `BaseExceptionGroup`. A nursery always rejects
 * with one of these (Trio's strict exception groups), even when only one task failed, so code
 * that handles nursery errors handles one shape.
 *
 * `exceptions` and `errors` are the same array. Groups may nest.
 *
 * ```ts
 * try { await openNursery(async (n) => { n.startSoon(a); n.startSoon(b); }); }
 * catch (e) {
 *   if (e instanceof ExceptionGroup) {
 *     const [timeouts, rest] = e.split(TooSlowError);
 *     if (rest) throw rest;
 *   }
 * }
 * ```
 */
export class ExceptionGroup extends AggregateError {
  override name = 'ExceptionGroup';
  declare readonly errors: unknown[];

  /** @internal see `counted` */
  private declare readonly describeCount: ((count: number) => string) | undefined;

  constructor(message: string, exceptions: readonly unknown[], options?: ErrorOptions) {
    if (!Array.isArray(exceptions)) {
      throw new TypeError('ExceptionGroup: exceptions must be an array');
    }
    if (exceptions.length === 0) {
      throw new TypeError('ExceptionGroup: exceptions must not be empty');
    }
    super(exceptions, message, options);
  }

  /**
   * @internal a group whose message says how many errors it holds (a nursery's): the parts
   * `split` and `derive` make get a message that counts their own errors.
   */
  static counted(describeCount: (count: number) => string, exceptions: readonly unknown[]): ExceptionGroup {
    const group = new ExceptionGroup(describeCount(exceptions.length), exceptions);
    Object.defineProperty(group, 'describeCount', { value: describeCount, enumerable: false });
    return group;
  }

  /** The errors in this group (the same array as `errors`). */
  get exceptions(): unknown[] {
    return this.errors;
  }

  /** A group with the same message and class holding `exceptions` instead. */
  derive(exceptions: readonly unknown[]): ExceptionGroup {
    const describeCount = this.describeCount;
    const derived =
      describeCount === undefined
        ? new ExceptionGroup(this.message, exceptions, { cause: this.cause })
        : ExceptionGroup.counted(describeCount, exceptions);
    if (describeCount !== undefined && this.cause !== undefined) {
      Object.defineProperty(derived, 'cause', { value: this.cause, writable: true, configurable: true });
    }
    // Like Python's derive: the part keeps the whole's origin, not the place it was split. A
    // counted message is the first line of the stack, so it is rewritten there too.
    if (this.stack !== undefined) {
      derived.stack =
        describeCount === undefined ? this.stack : this.stack.replace(this.message, derived.message);
    }
    return derived;
  }

  /**
   * Splits the group in two, keeping the nesting: `[matching, rest]`, each `undefined` when
   * empty. A nested group that matches as a whole goes whole into `matching`.
   */
  split(matcher: ErrorMatcher): [ExceptionGroup | undefined, ExceptionGroup | undefined] {
    const test = toPredicate(matcher);
    return splitGroup(this, test);
  }

  /** The part of this group that `matcher` matches (as in `split`), or `undefined`. */
  subgroup(matcher: ErrorMatcher): ExceptionGroup | undefined {
    return this.split(matcher)[0];
  }
}

function splitGroup(
  group: ExceptionGroup,
  test: (error: unknown) => boolean,
): [ExceptionGroup | undefined, ExceptionGroup | undefined] {
  if (test(group)) return [group, undefined];
  const matched: unknown[] = [];
  const rest: unknown[] = [];
  for (const error of group.errors) {
    if (error instanceof ExceptionGroup) {
      const [m, r] = splitGroup(error, test);
      if (m) matched.push(m);
      if (r) rest.push(r);
    } else if (test(error)) {
      matched.push(error);
    } else {
      rest.push(error);
    }
  }
  return [
    matched.length === 0 ? undefined : rest.length === 0 ? group : group.derive(matched),
    rest.length === 0 ? undefined : matched.length === 0 ? group : group.derive(rest),
  ];
}

/** Every triode error class by name, for rebuilding errors that crossed a thread boundary. */
export const triodeErrorClasses = {
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
  ExceptionGroup,
} as const;

/**
 * instanceof across copies of triode. A process can load triode twice (its ESM and its CJS
 * build, or two installed versions): each copy has its own classes, so a `TooSlowError` from one
 * would fail `instanceof TooSlowError` against the other. Each class's prototype carries a
 * process-wide brand with its name, and `instanceof` also accepts an error branded by another
 * copy with this class's name or a subclass's.
 */
const BRAND = Symbol.for('triode.errorClass');
const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

function hasInstance(this: abstract new (...args: never[]) => unknown, value: unknown): boolean {
  if (ordinaryHasInstance.call(this, value)) return true;
  if (value === null || typeof value !== 'object') return false;
  const brand = (value as { [BRAND]?: unknown })[BRAND];
  if (typeof brand !== 'string' || !Object.hasOwn(brandedClasses, brand)) return false;
  const local = brandedClasses[brand as keyof typeof brandedClasses] as { prototype: object };
  // A class branded elsewhere matches this class or any triode class it extends.
  return local.prototype === this.prototype || Object.prototype.isPrototypeOf.call(this.prototype, local.prototype);
}

const brandedClasses = { ...triodeErrorClasses, CalledProcessError: undefined as unknown as abstract new (...args: never[]) => Error };

/**
 * Raised by `runProcess` (with `check`, the default) when the process exits with a non-zero
 * code or is killed by a signal (then `returncode` is minus the signal number).
 */
export class CalledProcessError extends Error {
  override name = 'CalledProcessError';
  constructor(
    readonly returncode: number,
    readonly command: readonly string[],
    readonly stdout?: Uint8Array | string,
    readonly stderr?: Uint8Array | string,
  ) {
    super(
      `command ${JSON.stringify(command)} ${returncode < 0 ? `was killed by signal ${-returncode}` : `exited with code ${returncode}`}` +
        (typeof stderr === 'string' && stderr.trim() ? `: ${stderr.trim().slice(0, 500)}` : ''),
    );
  }
}

brandedClasses.CalledProcessError = CalledProcessError;
for (const [name, Class] of Object.entries(brandedClasses)) {
  Object.defineProperty(Class.prototype, BRAND, { value: name });
  Object.defineProperty(Class, Symbol.hasInstance, { value: hasInstance });
}
