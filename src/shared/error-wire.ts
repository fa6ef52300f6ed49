/**
 * The wire form of errors, so an error thrown in a worker rejects the main-thread call with the
 * same class (built-in and triode classes; others become `Error` with the same `name`), message,
 * `cause` (recursively), `errors` of an AggregateError / ExceptionGroup, common Node properties
 * (`code`, `errno`, `syscall`, `path`) and the worker's stack.
 */
import { triodeErrorClasses } from './errors.js';

export interface WireError {
  readonly wire: 'triode-error';
  readonly className: string;
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly cause?: unknown;
  readonly errors?: unknown[];
  readonly props?: Record<string, unknown>;
}

const builtinClasses: Record<string, ErrorConstructor | AggregateErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};

const classes: Record<string, abstract new (...args: never[]) => Error> = { ...builtinClasses, ...triodeErrorClasses };
const copiedProps = ['code', 'errno', 'syscall', 'path', 'reason'] as const;

function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && (value as WireError).wire === 'triode-error';
}

/** Encodes any thrown value for postMessage. Non-errors are passed through as they are. */
export function errorToWire(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error) || depth > 16) return error;
  const className = Object.prototype.hasOwnProperty.call(classes, error.constructor.name) ? error.constructor.name : 'Error';
  const props: Record<string, unknown> = {};
  for (const key of copiedProps) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (value !== undefined && (typeof value !== 'object' || value === null)) props[key] = value;
  }
  return {
    wire: 'triode-error',
    className,
    name: error.name,
    message: error.message,
    stack: error.stack,
    ...(error.cause !== undefined ? { cause: errorToWire(error.cause, depth + 1) } : {}),
    ...(error instanceof AggregateError ? { errors: error.errors.map((e: unknown) => errorToWire(e, depth + 1)) } : {}),
    props,
  } satisfies WireError;
}

/** Rebuilds what `errorToWire` encoded; `note` is appended to the stack (where it surfaced). */
export function errorFromWire(value: unknown, note?: string): unknown {
  if (!isWireError(value)) return value;
  const Class = classes[value.className] ?? Error;
  const error = Object.create(Class.prototype) as Error & Record<string, unknown>;
  const define = (key: string, v: unknown) =>
    Object.defineProperty(error, key, { value: v, writable: true, configurable: true, enumerable: false });
  define('message', value.message);
  if (error.name !== value.name) define('name', value.name);
  define('stack', note === undefined ? value.stack : `${value.stack ?? `${value.name}: ${value.message}`}\n    ${note}`);
  if (value.cause !== undefined) define('cause', errorFromWire(value.cause));
  if (value.errors !== undefined) define('errors', value.errors.map((e) => errorFromWire(e)));
  for (const [key, v] of Object.entries(value.props ?? {})) define(key, v);
  return error;
}
