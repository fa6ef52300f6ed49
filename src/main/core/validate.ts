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
