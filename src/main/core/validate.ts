/** Argument checks shared by every public function, so errors name the argument the same way. */

/** A duration in ms: a non-negative number (Infinity allowed). */
export function checkDuration(where: string, name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${where}: ${name} must be a number of milliseconds, got ${describe(value)}`);
  }
  if (Number.isNaN(value) || value < 0) {
    throw new RangeError(`${where}: ${name} must be a non-negative number of milliseconds, got ${value}`);
  }
  return value;
}

/** An absolute time on the run's clock: any number but NaN (±Infinity allowed). */
export function checkDeadline(where: string, name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${where}: ${name} must be a number (ms on the run's clock), got ${describe(value)}`);
  }
  if (Number.isNaN(value)) {
    throw new RangeError(`${where}: ${name} must not be NaN`);
  }
  return value;
}

/**
 * A count: an integer ≥ `min` (and Infinity when `infinity` allows it). TypeError for a
 * non-number, RangeError for a number out of range.
 */
export function checkInteger(where: string, name: string, value: unknown, min: number, infinity = false): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${where}: ${name} must be a number, got ${describe(value)}`);
  }
  if (value === Infinity && infinity) return value;
  if (!Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
    throw new RangeError(`${where}: ${name} must be ${what}${infinity ? ' or Infinity' : ''}, got ${value}`);
  }
  return value;
}

export function checkFunction(where: string, name: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new TypeError(`${where}: ${name} must be a function, got ${describe(value)}`);
  }
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return String(value);
}

/**
 * The options argument of a public function: `undefined` gives `{}`; anything but a plain
 * object (null, a number, a string, an array, a function) is a TypeError naming the function.
 * The one check every public function that takes options runs first.
 */
export function checkOptions<O extends object>(where: string, options: O | undefined): O {
  if (options === undefined) return {} as O;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, got ${describe(options)}`);
  }
  return options;
}

export function checkBoolean(where: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`${where}: ${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}
