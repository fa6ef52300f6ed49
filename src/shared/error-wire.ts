/**
 * The wire form of thrown values, so an error thrown in a worker rejects the main-thread call
 * with the same class (built-in and triode classes; others become `Error` with the same `name`),
 * message, `cause` (recursively), `errors` of an AggregateError / ExceptionGroup, common Node
 * properties (`code`, `errno`, `syscall`, `path`, `reason`) and the worker's stack.
 *
 * Brand. Every thrown value crosses as a pair the runtime builds, `[ERROR, fields]` for an Error
 * and `[VALUE, value]` for anything else, so a plain object thrown by user code that merely looks
 * like an encoded error stays a plain object. A class is named on the wire only when the error's
 * constructor *is* that class (a user's own `class Cancelled extends Error` crosses as an `Error`
 * named "Cancelled", never as triode's `Cancelled`).
 *
 * The decoder trusts nothing: class names are looked up in a Map (no prototype to hit), fields
 * are type-checked, depth is bounded, and a malformed form decodes to an Error saying so.
 */
import { triodeErrorClasses } from './errors.js';

const ERROR = 'triode.error';
const VALUE = 'triode.value';
const MAX_DEPTH = 16;

interface ErrorFields {
  readonly className: string;
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly cause?: unknown;
  readonly errors?: unknown[];
  readonly props?: Record<string, unknown>;
}

type Constructor = abstract new (...args: never[]) => Error;

const classes = new Map<string, Constructor>([
  ['Error', Error],
  ['TypeError', TypeError],
  ['RangeError', RangeError],
  ['SyntaxError', SyntaxError],
  ['ReferenceError', ReferenceError],
  ['EvalError', EvalError],
  ['URIError', URIError],
  ['AggregateError', AggregateError],
  ...(Object.entries(triodeErrorClasses) as Array<[string, Constructor]>),
]);
const copiedProps = ['code', 'errno', 'syscall', 'path', 'reason'] as const;

/** The registered name of `error`'s own class, when its constructor is exactly that class. */
function classNameOf(error: Error): string {
  const name = error.constructor?.name;
  return typeof name === 'string' && classes.get(name) === error.constructor ? name : 'Error';
}

/** Encodes any thrown value for another thread. */
export function errorToWire(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error) || depth > MAX_DEPTH) return [VALUE, error];
  const props: Record<string, unknown> = {};
  for (const key of copiedProps) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (value !== undefined && (typeof value !== 'object' || value === null) && typeof value !== 'function' && typeof value !== 'symbol') {
      props[key] = value;
    }
  }
  const fields: ErrorFields = {
    className: classNameOf(error),
    name: String(error.name),
    message: String(error.message),
    stack: typeof error.stack === 'string' ? error.stack : undefined,
    ...(error.cause !== undefined ? { cause: errorToWire(error.cause, depth + 1) } : {}),
    ...(error instanceof AggregateError && Array.isArray(error.errors)
      ? { errors: error.errors.map((e: unknown) => errorToWire(e, depth + 1)) }
      : {}),
    props,
  };
  return [ERROR, fields];
}

/**
 * A stand-in for a thrown value that cannot cross (an uncloneable thrown object, say): an Error
 * with its description, in wire form.
 */
export function describedErrorWire(what: string): unknown {
  return errorToWire(new Error(what));
}

function malformed(): Error {
  return new Error('triode: a malformed error came from another thread');
}

function own(object: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(object, key) ? (object as Record<string, unknown>)[key] : undefined;
}

/** Rebuilds what `errorToWire` encoded; `note` is appended to the stack (where it surfaced). */
export function errorFromWire(value: unknown, note?: string, depth = 0): unknown {
  if (!Array.isArray(value) || value.length !== 2) return malformed();
  if (value[0] === VALUE) return value[1];
  if (value[0] !== ERROR || depth > MAX_DEPTH) return malformed();
  const fields: unknown = value[1];
  if (fields === null || typeof fields !== 'object') return malformed();
  const className = own(fields, 'className');
  const name = own(fields, 'name');
  const message = own(fields, 'message');
  const stack = own(fields, 'stack');
  if (typeof name !== 'string' || typeof message !== 'string' || (stack !== undefined && typeof stack !== 'string')) return malformed();
  const Class = (typeof className === 'string' ? classes.get(className) : undefined) ?? Error;
  const error = Object.create(Class.prototype) as Error & Record<string, unknown>;
  const define = (key: string, v: unknown) =>
    Object.defineProperty(error, key, { value: v, writable: true, configurable: true, enumerable: false });
  define('message', message);
  if (error.name !== name) define('name', name);
  define('stack', note === undefined ? (stack ?? `${name}: ${message}`) : `${stack ?? `${name}: ${message}`}\n    ${note}`);
  const cause = own(fields, 'cause');
  if (cause !== undefined) define('cause', errorFromWire(cause, undefined, depth + 1));
  const errors = own(fields, 'errors');
  if (errors !== undefined) {
    define('errors', Array.isArray(errors) ? errors.map((e) => errorFromWire(e, undefined, depth + 1)) : []);
  }
  const props = own(fields, 'props');
  if (props !== null && typeof props === 'object') {
    for (const key of copiedProps) {
      const v = own(props, key);
      if (v !== undefined && (typeof v !== 'object' || v === null)) define(key, v);
    }
  }
  return error;
}
