/**
 * Checks, before a job is dispatched, that every argument can cross a thread (the structured
 * clone algorithm), so the error names the argument instead of surfacing later as a
 * DataCloneError from somewhere inside the pool.
 */
import { types } from 'node:util';

/** Returns a description of the first part of `value` that cannot be cloned, or undefined. */
function findUncloneable(value: unknown, path: string, seen: Set<object> | undefined, found: CloneableFindings | undefined): string | undefined {
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
  if (types.isSharedArrayBuffer(value) || (ArrayBuffer.isView(value) && types.isSharedArrayBuffer(value.buffer))) {
    if (found !== undefined) found.shared = true;
    return undefined;
  }
  if (
    types.isArrayBuffer(value) ||
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
      const bad = findUncloneable(k, `${path} (a Map key)`, seen, found) ?? findUncloneable(v, `${path}.get(…)`, seen, found);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  if (types.isSet(value)) {
    for (const v of value) {
      const bad = findUncloneable(v, `${path} (a Set member)`, seen, found);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  const keys = Array.isArray(value) ? value.keys() : Object.keys(value);
  for (const key of keys) {
    const bad = findUncloneable((value as Record<string | number, unknown>)[key], `${path}[${JSON.stringify(key)}]`, seen, found);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/** What a walk noticed besides uncloneable parts. */
export interface CloneableFindings {
  /** Shared memory (a SharedArrayBuffer, or a view of one): only postMessage shares it. */
  shared: boolean;
}

/**
 * Describes why `value` cannot be sent to another thread, or undefined when it can; notes in
 * `found` whether it holds shared memory.
 */
export function whyUncloneable(value: unknown, name: string, found?: CloneableFindings): string | undefined {
  return findUncloneable(value, name, undefined, found);
}
