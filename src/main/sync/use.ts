/** The block form shared by every primitive that is acquired and released (Trio's `async with`). */
import { checkFunction } from '../core/validate.js';

/** Runs `acquire()`, then `fn()`, then `release()` — also when `fn` throws. A checkpoint (through acquire). */
export async function useAcquired<T>(
  where: string,
  acquire: () => Promise<void>,
  release: () => void,
  fn: () => Promise<T> | T,
): Promise<T> {
  checkFunction(where, 'fn', fn);
  await acquire();
  try {
    return await fn();
  } finally {
    release();
  }
}
