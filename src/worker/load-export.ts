/** Loading a user's worker module and finding the export to call: one place for the entry and mapInWorkers' loop. */

type AnyFunction = (...args: unknown[]) => unknown;

const moduleCache = new Map<string, Record<string, unknown>>();

/** The function `exportName` of the module at `url` (loaded once per thread); an Error naming both otherwise. */
export async function loadExport(url: string, exportName: string): Promise<AnyFunction> {
  let mod = moduleCache.get(url);
  if (mod === undefined) {
    try {
      mod = (await import(url)) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`triode: cannot load worker module ${url}: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      });
    }
    moduleCache.set(url, mod);
  }
  let fn = mod[exportName];
  // A CommonJS module's exports arrive as `default` when Node cannot see them statically.
  if (fn === undefined && mod.default !== null && typeof mod.default === 'object') {
    fn = (mod.default as Record<string, unknown>)[exportName];
  }
  if (typeof fn !== 'function') {
    const names = Object.keys(mod).join(', ') || '(none)';
    throw new Error(`triode: worker module ${url} has no function export named "${exportName}" (its exports: ${names})`);
  }
  return fn as AnyFunction;
}

/** Whether `value` is a thenable: what decides that an export is async (DESIGN §4). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
