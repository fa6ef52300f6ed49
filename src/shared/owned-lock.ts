/**
 * Spin locks in shared memory that name their holder, so a lock held by a thread that died is
 * taken back by the next live thread that wants it, instead of wedging every other thread.
 *
 * A lock is two Int32 words: the LOCK word (0 when free, else the holder's identity from
 * thread-registry.ts) and, right after it, the count of threads sleeping on it. Taking it is one
 * compare-and-swap 0 → me; releasing it is one store of 0, and a notify only when someone sleeps.
 *
 * Why taking back a dead holder's lock is safe: whatever a lock guards (a ring's write side or
 * read side) is changed by its holder in one atomic store at the very end (the ring publishes a
 * frame by storing TAIL, and frees space by storing HEAD; see ring.ts). A holder that dies at any
 * instruction therefore leaves the structure exactly as before or exactly as after its operation,
 * with only the lock word left behind. A dead thread never runs again (its identity is removed
 * from the registry only after its Worker's 'exit'), so the compare-and-swap holder → me can
 * never race with the dead holder, and among live thieves exactly one wins it.
 *
 * No timeout decides anything: a live holder that takes long (a 60 MiB copy) is waited for, a
 * dead one is noticed at the next look at its liveness (each sleep is a few ms at most).
 */
import { isThreadAlive, selfIdentity } from './thread-registry.js';

/** How long a blocked thread sleeps on a lock before looking at its holder's liveness again. */
const LOCK_SLICE_MS = 2;
/** Spins before sleeping: a holder copies one bounded run of frames. */
const SPINS = 2000;

/**
 * Takes the lock at `index` if it is free or its holder died; never blocks. The thread-safe
 * way for the main thread, which must not block or spin on another thread.
 */
export function tryLock(words: Int32Array, index: number): boolean {
  const me = selfIdentity();
  const holder = Atomics.compareExchange(words, index, 0, me);
  if (holder === 0) return true;
  // A dead holder's lock is ours to take (see above); the CAS makes sure only one thief wins.
  return !isThreadAlive(holder) && Atomics.compareExchange(words, index, holder, me) === holder;
}

/** Takes the lock, blocking this (worker) thread while a live holder has it. */
export function lockSync(words: Int32Array, index: number): void {
  if (tryLock(words, index)) return;
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(words, index) === 0 && tryLock(words, index)) return;
  }
  for (;;) {
    const holder = Atomics.load(words, index);
    if (holder === 0 || !isThreadAlive(holder)) {
      if (tryLock(words, index)) return;
      continue;
    }
    Atomics.add(words, index + 1, 1);
    Atomics.wait(words, index, holder, LOCK_SLICE_MS);
    Atomics.sub(words, index + 1, 1);
  }
}

/** Releases the lock; wakes one sleeper if any. */
export function unlock(words: Int32Array, index: number): void {
  Atomics.store(words, index, 0);
  if (Atomics.load(words, index + 1) > 0) Atomics.notify(words, index, 1);
}

/**
 * Resolves when the lock at `index` may be free (or its holder may have died): the async wait of
 * a main-thread operation that found it held. Never blocks; looks again at least every few ms.
 */
export async function lockReleased(words: Int32Array, index: number): Promise<void> {
  const holder = Atomics.load(words, index);
  if (holder === 0 || !isThreadAlive(holder)) return;
  Atomics.add(words, index + 1, 1);
  try {
    const result = Atomics.waitAsync(words, index, holder, LOCK_SLICE_MS);
    if (result.async) await result.value;
  } finally {
    Atomics.sub(words, index + 1, 1);
  }
}
