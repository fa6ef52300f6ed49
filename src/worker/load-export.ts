/** Loading a user's worker module and finding the export to call: one place for the entry and mapInWorkers' loop. */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

type AnyFunction = (...args: unknown[]) => unknown;

const moduleCache = new Map<string, Record<string, unknown>>();

/**
 * `import(url)`, or — for a file Node's ESM loader cannot take, such as `.ts` under tsx on Node 20,
 * whose loader hooks do not reach worker threads while its `require` hooks do — `require(path)`.
 */
async function importModule(url: string): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !url.startsWith('file:')) throw error;
    try {
      return createRequire(url)(fileURLToPath(url)) as Record<string, unknown>;
    } catch {
      throw error; // the require fallback did not help either: report what import said
    }
  }
}

/** The function `exportName` of the module at `url` (loaded once per thread); an Error naming both otherwise. */
export async function loadExport(url: string, exportName: string): Promise<AnyFunction> {
  let mod = moduleCache.get(url);
  if (mod === undefined) {
    try {
      mod = await importModule(url);
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
