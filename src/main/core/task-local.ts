/**
 * Task-local and run-local storage (Trio's context variables and RunVar).
 *
 * Each task holds a map of TaskLocal values. A new task starts with the values of the task that
 * spawned it; the map is shared copy-on-write, so spawning costs nothing and a `set` clones it
 * only when someone else still sees it. A `set` is therefore seen by the setting task and the
 * tasks it spawns afterwards, never by its parent or siblings.
 */
import { whyUncloneable, type CloneableFindings } from '../../shared/cloneable.js';
import { currentCall } from '../../shared/worker-call.js';
import { currentContext, peekContext } from './context.js';
import type { Task } from './task.js';

const MISSING: unique symbol = Symbol('missing');
type Missing = typeof MISSING;

/** Returned by `set`; give it to `reset` to restore the previous value. */
export class Token<T> {
  /** @internal */ used = false;
  /** @internal */
  constructor(
    /** @internal */ readonly variable: object,
    readonly oldValue: T | Missing,
    /** @internal the task or run the value was set in */ readonly owner: object,
  ) {}
}

export interface LocalOptions<T> {
  default?: T;
}

export interface TaskLocalOptions<T> extends LocalOptions<T> {
  /**
   * Carry the value into worker calls the task makes, matched by `name` on the other side (so
   * the worker module must create a TaskLocal of the same name). The value must be
   * structured-cloneable. Names of cross-thread locals are unique.
   */
  crossThreads?: boolean;
}

/** The cross-thread TaskLocals of this thread, by name (shared by the ESM and CJS builds). */
const CROSS_KEY = Symbol.for('triode.crossThreadLocals');
type GlobalWithLocals = typeof globalThis & { [CROSS_KEY]?: Map<string, TaskLocal<unknown>> };
const crossThreadLocals: Map<string, TaskLocal<unknown>> = ((globalThis as GlobalWithLocals)[CROSS_KEY] ??= new Map());

/** @internal the cross-thread TaskLocal named `name` on this thread, if any. */
export function crossThreadLocal(name: string): TaskLocal<unknown> | undefined {
  return crossThreadLocals.get(name);
}

/**
 * @internal the current task's cross-thread TaskLocal values for a worker call made by `where`,
 * checked: one that cannot cross a thread is refused here, with a TypeError naming the TaskLocal
 * (before anything is dispatched). `found` notes shared memory among them (see cloneable.ts).
 */
export function crossThreadValuesFor(where: string, found?: CloneableFindings): Array<[string, unknown]> | undefined {
  const locals = crossThreadValues();
  if (locals === undefined) return undefined;
  for (const [name, value] of locals) {
    const bad = whyUncloneable(value, `the value of TaskLocal ${JSON.stringify(name)}`, found);
    if (bad !== undefined) {
      throw new TypeError(`${where}: ${bad}, which cannot be sent to a worker thread (cross-thread TaskLocals must hold structured-cloneable values)`);
    }
  }
  return locals;
}

/**
 * @internal the values of the current task's cross-thread locals, as `[name, value]` pairs to
 * send with a worker call (undefined when there are none, or outside a task).
 */
export function crossThreadValues(): Array<[string, unknown]> | undefined {
  if (crossThreadLocals.size === 0) return undefined;
  const ctx = peekContext();
  const map = ctx !== undefined ? ctx.task.locals : currentCall()?.locals;
  if (map === undefined || map.size === 0) return undefined;
  let out: Array<[string, unknown]> | undefined;
  for (const [key, value] of map) {
    if (key instanceof TaskLocal && key.crossThreads) (out ??= []).push([key.name, value]);
  }
  return out;
}

function hasDefault<T>(options: LocalOptions<T> | undefined): options is { default: T } {
  return options !== undefined && Object.prototype.hasOwnProperty.call(options, 'default');
}

abstract class LocalBase<T> {
  readonly name: string;
  private readonly defaultValue: T | Missing;

  constructor(kind: string, name: string, options?: LocalOptions<T>) {
    if (typeof name !== 'string') throw new TypeError(`${kind}: name must be a string`);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new TypeError(`${kind}: options must be an object`);
    }
    this.name = name;
    this.defaultValue = hasDefault(options) ? options.default : MISSING;
  }

  protected abstract values(write: boolean): { map: Map<object, unknown>; owner: object };

  /**
   * The current value; else `fallback` if one is given; else the default; else throws an Error.
   * Not a checkpoint.
   */
  get(...fallback: [] | [T]): T {
    const { map } = this.values(false);
    if (map.has(this)) return map.get(this) as T;
    if (fallback.length > 0) return fallback[0] as T;
    if (this.defaultValue !== MISSING) return this.defaultValue;
    throw new Error(`${this.constructor.name} ${JSON.stringify(this.name)} has no value and no default`);
  }

  /** Sets the value; returns a Token for `reset`. Not a checkpoint. */
  set(value: T): Token<T> {
    const { map, owner } = this.values(true);
    const old = map.has(this) ? (map.get(this) as T) : MISSING;
    map.set(this, value);
    return new Token<T>(this, old, owner);
  }

  /** Restores the value that was current before the `set` that returned `token`. Once only. */
  reset(token: Token<T>): void {
    if (!(token instanceof Token) || token.variable !== this) {
      throw new TypeError(`${this.constructor.name}.reset: the token was not created by this variable`);
    }
    if (token.used) throw new Error(`${this.constructor.name}.reset: the token has already been used`);
    const { map, owner } = this.values(true);
    if (token.owner !== owner) {
      throw new Error(`${this.constructor.name}.reset: the token was created in another ${this.scopeName()}`);
    }
    token.used = true;
    if (token.oldValue === MISSING) map.delete(this);
    else map.set(this, token.oldValue);
  }

  protected abstract scopeName(): string;

  toString(): string {
    return `<${this.constructor.name} ${this.name}>`;
  }
}

function taskValues(task: Task, write: boolean): Map<object, unknown> {
  if (write && task.localsShared) {
    task.locals = new Map(task.locals);
    task.localsShared = false;
  }
  return task.locals;
}

/**
 * A value per task, inherited by the tasks it spawns (Trio's `ContextVar` in a task).
 *
 * ```ts
 * const requestId = new TaskLocal<string>('requestId', { default: '-' });
 * requestId.set('r42'); // seen by this task and the tasks it starts from now on
 * log(requestId.get());
 * ```
 */
export class TaskLocal<T> extends LocalBase<T> {
  /** Whether the value crosses into worker calls (see TaskLocalOptions). */
  readonly crossThreads: boolean;

  constructor(name: string, options?: TaskLocalOptions<T>) {
    super('TaskLocal', name, options);
    this.crossThreads = options?.crossThreads === true;
    if (this.crossThreads) {
      if (crossThreadLocals.has(name)) {
        throw new Error(`TaskLocal: a cross-thread TaskLocal named ${JSON.stringify(name)} already exists on this thread (names of cross-thread locals are unique)`);
      }
      crossThreadLocals.set(name, this as TaskLocal<unknown>);
    }
  }
  protected values(write: boolean): { map: Map<object, unknown>; owner: object } {
    // In a synchronous worker export (no run): the values its call brought, for this call only.
    const call = peekContext() === undefined ? currentCall() : undefined;
    if (call !== undefined) return { map: (call.locals ??= new Map()), owner: call };
    const task = currentContext(`TaskLocal ${JSON.stringify(this.name)}`).task;
    return { map: taskValues(task, write), owner: task };
  }
  protected scopeName(): string {
    return 'task';
  }
}

/** One value per run, shared by all its tasks (Trio's `RunVar`). */
export class RunVar<T> extends LocalBase<T> {
  constructor(name: string, options?: LocalOptions<T>) {
    super('RunVar', name, options);
  }
  protected values(): { map: Map<object, unknown>; owner: object } {
    const runner = currentContext(`RunVar ${JSON.stringify(this.name)}`).task.runner;
    return { map: runner.runVars, owner: runner };
  }
  protected scopeName(): string {
    return 'run';
  }
}
