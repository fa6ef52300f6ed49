/**
 * Which threads of this process are alive, in shared memory every thread can read: what lets a
 * live thread take back a lock or a slot that a dead one held (see owned-lock.ts).
 *
 * Layout (Int32 words of one SharedArrayBuffer, created once per process by the main thread and
 * handed to every worker started afterwards through `setEnvironmentData`, which nested workers
 * inherit):
 *
 *     [0]            DEATHS: bumped (and notified) each time a thread is marked dead
 *     [1..SLOTS]     one thread identity per slot (`threadId + 1`), 0 when free
 *
 * A thread is registered by whoever starts it, before it can run any code (`registerThread` right
 * after `new Worker`), and by itself on first use (idempotent); it is unregistered by the thread
 * that watches its Worker's 'exit' event, which fires only after the thread has stopped running
 * JavaScript — so once `isThreadAlive(id)` is false it stays false, and nothing the dead thread
 * held will ever be touched by it again. Thread ids are never reused within a process, so an
 * identity found in a slot cannot be confused with an older thread's.
 *
 * A thread whose registry is not the process-wide one (a worker started before triode was loaded
 * on the main thread) uses `UNKNOWN_OWNER`, which is always taken to be alive: its locks are
 * never stolen, which is the safe side.
 */
import { getEnvironmentData, isMainThread, setEnvironmentData, threadId } from 'node:worker_threads';

const KEY = 'triode.threadRegistry';
const SLOTS = 4096;
const DEATHS = 0;

/** The identity of a thread whose liveness cannot be known: never considered dead. */
export const UNKNOWN_OWNER = 0x7fffffff;

type GlobalWithRegistry = typeof globalThis & { [REGISTRY]?: Int32Array | null };
const REGISTRY = Symbol.for(KEY);

/** This process's registry, or null in a worker that did not inherit one. */
function registry(): Int32Array | null {
  const g = globalThis as GlobalWithRegistry;
  if (g[REGISTRY] !== undefined) return g[REGISTRY];
  let sab = getEnvironmentData(KEY) as SharedArrayBuffer | undefined;
  if (sab === undefined && isMainThread) {
    sab = new SharedArrayBuffer((SLOTS + 1) * 4);
    setEnvironmentData(KEY, sab);
  }
  return (g[REGISTRY] = sab instanceof SharedArrayBuffer ? new Int32Array(sab) : null);
}

/**
 * Makes sure this process's registry exists (the main thread creates it) before a Worker is
 * started: only workers started afterwards inherit it.
 */
export function ensureRegistry(): void {
  registry();
}

/** The identity a thread writes into lock words: its threadId + 1 (0 means "nobody"). */
export function identityOf(id: number): number {
  return id + 1;
}

/** Adds a thread (by its identity) to the registry; idempotent. Throws when the registry is full. */
export function registerThread(identity: number): void {
  const table = registry();
  if (table === null) return;
  const start = identity % SLOTS;
  for (let i = 0; i < SLOTS; i++) if (Atomics.load(table, 1 + ((start + i) % SLOTS)) === identity) return;
  for (let i = 0; i < SLOTS; i++) {
    if (Atomics.compareExchange(table, 1 + ((start + i) % SLOTS), 0, identity) === 0) return;
  }
  throw new Error(`triode: more than ${SLOTS} threads alive at once`);
}

/** Marks a thread dead (its Worker emitted 'exit') and wakes whoever waits on a death. */
export function markThreadDead(identity: number): void {
  const table = registry();
  if (table === null) return;
  const start = identity % SLOTS;
  for (let i = 0; i < SLOTS; i++) {
    const slot = 1 + ((start + i) % SLOTS);
    if (Atomics.compareExchange(table, slot, identity, 0) === identity) break;
  }
  Atomics.add(table, DEATHS, 1);
  Atomics.notify(table, DEATHS);
}

/** False only for a thread known to have died. */
export function isThreadAlive(identity: number): boolean {
  if (identity === UNKNOWN_OWNER) return true;
  const table = registry();
  if (table === null) return true;
  const start = identity % SLOTS;
  // The thread's own slot first: almost always where it is.
  for (let i = 0; i < SLOTS; i++) {
    if (Atomics.load(table, 1 + ((start + i) % SLOTS)) === identity) return true;
  }
  return false;
}

let self = 0;

/** This thread's identity for lock and slot words, registered on first use. */
export function selfIdentity(): number {
  if (self !== 0) return self;
  if (registry() === null) return (self = UNKNOWN_OWNER);
  const identity = identityOf(threadId);
  registerThread(identity);
  return (self = identity);
}
