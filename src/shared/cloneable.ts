/**
 * Checks, before a job is dispatched, that every argument can cross a thread (the structured
 * clone algorithm), so the error names the argument instead of surfacing later as a
 * DataCloneError from somewhere inside the pool.
 */
import { types } from 'node:util';

/** Returns a description of the first part of `value` that cannot be cloned, or undefined. */
function findUncloneable(value: unknown, path: string, seen: Set<object> | undefined): string | undefined {
  switch (typeof value) {
    case 'function':
      return `${path} is a function`;
    case 'symbol':
      return `${path} is a symbol`;
    case 'object':
      break;
    default:
      return undefined; // primitives: the common case, checked without allocating
  }
  if (value === null) return undefined;
  seen ??= new Set();
  if (seen.has(value)) return undefined;
  seen.add(value);
  if (
    types.isArrayBuffer(value) ||
    types.isSharedArrayBuffer(value) ||
    ArrayBuffer.isView(value) ||
    types.isDate(value) ||
    types.isRegExp(value) ||
    types.isBoxedPrimitive(value) ||
    value instanceof Error
  ) {
    return undefined;
  }
  if (types.isPromise(value)) return `${path} is a Promise`;
  if (types.isWeakMap(value) || types.isWeakSet(value)) return `${path} is a WeakMap/WeakSet`;
  if (types.isProxy(value)) return `${path} is a Proxy`;
  if (types.isMap(value)) {
    for (const [k, v] of value) {
      const bad = findUncloneable(k, `${path} (a Map key)`, seen) ?? findUncloneable(v, `${path}.get(…)`, seen);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  if (types.isSet(value)) {
    for (const v of value) {
      const bad = findUncloneable(v, `${path} (a Set member)`, seen);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  const keys = Array.isArray(value) ? value.keys() : Object.keys(value);
  for (const key of keys) {
    const bad = findUncloneable((value as Record<string | number, unknown>)[key], `${path}[${JSON.stringify(key)}]`, seen);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/** Describes why `value` cannot be sent to another thread, or undefined when it can. */
export function whyUncloneable(value: unknown, name: string): string | undefined {
  return findUncloneable(value, name, undefined);
}
