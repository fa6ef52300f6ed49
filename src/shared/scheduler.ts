/**
 * The worker-call scheduler's shared memory: how jobs reach pool threads and results come back
 * without a message per call, and how a job is claimed, cancelled and accounted for when the
 * thread running it dies.
 *
 * Per pool, three SharedArrayBuffers (created by the main thread, given to each thread once):
 *
 *     SUBMISSIONS   a ring (ring.ts) of job frames: tag = the job's TICKET (slot | generation << 12),
 *                   payload = the encoded job (job-codec.ts, with its export table). Written by the main thread, taken
 *                   by pool threads; an idle thread sleeps on the ring's DATA word and is woken
 *                   (one thread per job) only when it said it sleeps.
 *     COMPLETIONS   a ring of result frames: tag = the ticket, payload = the encoded result. Written
 *                   by pool threads, read by the main thread in batches (one Atomics.waitAsync).
 *     STATES        one Int32 STATE word per job slot (JOB_SLOTS of them):
 *                       bit 30        CANCEL: set by the caller's scope (Atomics.or)
 *                       bits 20..29   the slot's generation (which job the slot holds now)
 *                       bits 0..19    OWNER: the identity of the thread running it, 0 while queued
 *                   and a CONTROL area (see C_* below).
 *
 * A job's life. The main thread takes a free slot, bumps its generation, stores STATE = gen (queued)
 * and publishes the frame. A thread takes the frame under the submission ring's read lock and, in
 * the same critical section, claims the job with one compare-and-swap STATE gen → gen | me; a
 * frame whose claim fails (cancelled while queued, or a stale frame of an older generation) is
 * dropped, so a cancelled queued job costs nothing and is never started. A running job's CANCEL
 * bit is what `checkpoint()` loads and `sleepSync` waits on. The thread writes the result frame;
 * the main thread, reading it, frees the slot.
 *
 * Deaths. When a thread's Worker emits 'exit', the main thread first reads every completion
 * already published, then fails exactly the jobs whose OWNER is the dead thread: BrokenWorkerError
 * (or Cancelled, for the job it was killed for). A thread that dies holding the submission lock
 * either had not claimed the frame (it stays for the next thread) or had (it is failed, and its
 * frame, still in the ring, no longer claimable). Nothing else is touched.
 *
 * Memory ordering: every STATE change is an Atomics operation, and a frame's payload is ordered by
 * its ring's TAIL/HEAD stores (ring.ts), so a thread that claims a job sees the job's bytes, and
 * the main thread that reads a completion sees the result's bytes.
 */

import { H_DATA, H_WAIT_RECV, usedBytes, type RingView } from './ring.js';

export const JOB_SLOTS = 4096;
/**
 * Which caller owns which slots: the main thread the first MAIN_SLOTS, each pool thread (by its
 * index, reused when a thread is replaced) an equal share of the rest, for its nested calls. A
 * slot's caller is therefore known from its number alone (see callerOfSlot).
 */
export const MAIN_SLOTS = 2048;
/** Reply rings are named by a byte: at most this many pool threads can make nested calls. */
export const MAX_CALLING_THREADS = 255;

function slotsPerThread(maxThreads: number): number {
  return Math.floor((JOB_SLOTS - MAIN_SLOTS) / Math.min(maxThreads, MAX_CALLING_THREADS));
}

/** The slots of the caller behind reply ring `replyTo` (0: the main thread; i + 1: thread i). */
export function slotsOf(replyTo: number, maxThreads: number): number[] {
  if (replyTo === 0) return Array.from({ length: MAIN_SLOTS }, (_, i) => i);
  if (replyTo > MAX_CALLING_THREADS) return [];
  const per = slotsPerThread(maxThreads);
  const from = MAIN_SLOTS + (replyTo - 1) * per;
  return Array.from({ length: per }, (_, i) => from + i);
}

/** The reply ring of the caller owning `slot` (0: the main thread). */
export function callerOfSlot(slot: number, maxThreads: number): number {
  return slot < MAIN_SLOTS ? 0 : 1 + Math.floor((slot - MAIN_SLOTS) / slotsPerThread(maxThreads));
}
export const CANCEL = 1 << 30;
const GEN_SHIFT = 20;
const GEN_MASK = 0x3ff;
export const OWNER_MASK = (1 << GEN_SHIFT) - 1;

/** Whether a STATE word holds a job (queued or running): not a slot never used, not a released one. */
export function isLive(word: number): boolean {
  const owner = word & OWNER_MASK;
  return owner !== OWNER_MASK && (owner !== 0 || word !== 0);
}

// CONTROL words, after the STATE words.
/** Threads alive or starting (the main thread adds, an idle thread leaving subtracts). */
export const C_THREADS = JOB_SLOTS;
/** The pool's minThreads: an idle thread leaves only while C_THREADS is above it. */
export const C_MIN_THREADS = JOB_SLOTS + 1;
/**
 * SPINNING: one bit per pool thread (by index, the first SPIN_THREADS threads) that is idle and
 * spinning on the submission ring, about to take whatever is published. A caller that publishes
 * jobs wakes a sleeping thread only when no thread spins, and wakes one: a thread that takes a
 * job and sees more wakes the next (so the caller pays one futex wake at most, usually none).
 * Bits, not a count: a thread that dies mid-spin leaves its own bit set, and the main thread
 * clears exactly that bit when the thread's exit is seen (clearSpinning), so no dead spinner can
 * keep sleeping threads from being woken.
 */
const C_SPINNING = JOB_SLOTS + 2;
const SPIN_WORDS = 8;
export const SPIN_THREADS = SPIN_WORDS * 32;
const CONTROL_WORDS = 16;

/** Pool thread `index` starts (true) or stops (false) spinning for jobs. */
export function setSpinning(states: Int32Array, index: number, spinning: boolean): void {
  if (index >= SPIN_THREADS) return;
  const bit = 1 << (index & 31);
  if (spinning) Atomics.or(states, C_SPINNING + (index >> 5), bit);
  else Atomics.and(states, C_SPINNING + (index >> 5), ~bit);
}

/** Main thread: thread `index` is gone; it spins no more. */
export function clearSpinning(states: Int32Array, index: number): void {
  setSpinning(states, index, false);
}

/**
 * Whether some pool thread spins for jobs (it will take a new one without being woken). `live`,
 * when given (the main thread's: see liveSpinMask), counts only the bits of threads that exist,
 * so garbage written over the word cannot keep the main thread from waking a sleeping thread.
 */
export function anySpinning(states: Int32Array, live?: Int32Array): boolean {
  for (let i = 0; i < SPIN_WORDS; i++) if ((Atomics.load(states, C_SPINNING + i) & (live === undefined ? -1 : live[i]!)) !== 0) return true;
  return false;
}

/**
 * Wakes one thread sleeping on the submission ring, unless none sleeps or one spins (it takes
 * the jobs itself). `onlyIfQueued`: and only if jobs are waiting. Callers after publishing,
 * a thread that took a job and left more, the main thread after a thread's death: one rule.
 */
export function wakeIdleThread(submissions: RingView, states: Int32Array, live: Int32Array | undefined, onlyIfQueued: boolean): void {
  const header = submissions.header;
  if (Atomics.load(header, H_WAIT_RECV) <= 0) return;
  if (onlyIfQueued && usedBytes(submissions) === 0) return;
  if (!anySpinning(states, live)) Atomics.notify(header, H_DATA, 1);
}

/** The main thread's record of which SPINNING bits belong to live threads (for anySpinning). */
export function liveSpinMask(): Int32Array {
  return new Int32Array(SPIN_WORDS);
}

/** Marks thread `index` alive (true) or gone (false) in a liveSpinMask. */
export function setLive(mask: Int32Array, index: number, live: boolean): void {
  if (index >= SPIN_THREADS) return;
  if (live) mask[index >> 5]! |= 1 << (index & 31);
  else mask[index >> 5]! &= ~(1 << (index & 31));
}

export function createStates(): Int32Array {
  return new Int32Array(new SharedArrayBuffer((JOB_SLOTS + CONTROL_WORDS) * 4));
}

/** A job's ticket, the tag of its frames: which slot, in which generation. */
export function ticketOf(slot: number, generation: number): number {
  return slot | (generation << 12);
}

export function slotOfTicket(ticket: number): number {
  return ticket & (JOB_SLOTS - 1);
}

export function generationOfTicket(ticket: number): number {
  return (ticket >>> 12) & GEN_MASK;
}

/** Main thread: readies `slot` for a new job; returns the new generation. */
export function queueJob(states: Int32Array, slot: number): number {
  // Never generation 0: a queued job's word is then never 0, the word of a slot never used, so
  // anyone can tell a slot in use from STATE alone (dumpTaskTree's nested calls, thread counts).
  const generation = ((((Atomics.load(states, slot) >>> GEN_SHIFT) & GEN_MASK) + 1) & GEN_MASK) || 1;
  Atomics.store(states, slot, generation << GEN_SHIFT);
  return generation;
}

/**
 * Pool thread: claims the job of `ticket` for thread `me`; false when it was cancelled while
 * queued or the ticket is stale (then the frame is dropped). Called under the submission lock.
 */
export function claimJob(states: Int32Array, ticket: number, me: number): boolean {
  const slot = slotOfTicket(ticket);
  const queued = generationOfTicket(ticket) << GEN_SHIFT;
  return Atomics.compareExchange(states, slot, queued, queued | (me & OWNER_MASK)) === queued;
}

/**
 * Caller: sets the job's CANCEL bit and wakes a `sleepSync` on it. True when the job had not been
 * claimed (it will never start).
 */
export function cancelJob(states: Int32Array, slot: number): boolean {
  const before = Atomics.or(states, slot, CANCEL);
  if ((before & OWNER_MASK) === 0) return true;
  Atomics.notify(states, slot);
  return false;
}

/**
 * The OWNER of a slot whose job the caller has settled: no thread has this identity (pool
 * threads are registered; see thread-registry.ts), so a stale frame can no longer claim the slot,
 * and a thread waiting for its job to be released (see below) sees it.
 */
const RELEASED = OWNER_MASK;

/**
 * Main thread: the job in `slot` is settled for its caller. A thread that finished a job which
 * was cancelled in 'kill' mode waits for this before it takes another job: until then the caller
 * may still terminate it, and it must not be running someone else's job when that lands.
 */
export function releaseJob(states: Int32Array, slot: number): void {
  const word = Atomics.load(states, slot);
  Atomics.store(states, slot, (word & (GEN_MASK << GEN_SHIFT)) | RELEASED);
  // Only a thread whose job was cancelled waits for the release (awaitRelease); the CANCEL bit is
  // set by this same caller thread, so it cannot appear between the load and the store. (A
  // notify per call cost the main thread a futex-table lock on every call.)
  if ((word & CANCEL) !== 0) Atomics.notify(states, slot);
}

/** Pool thread: after publishing a killable job's outcome, waits until no kill can be aimed at it any more. */
export function awaitRelease(states: Int32Array, slot: number, me: number): void {
  for (;;) {
    const word = Atomics.load(states, slot);
    // Not cancelled (no kill will follow), or released (the caller has the outcome).
    if ((word & CANCEL) === 0 || (word & OWNER_MASK) !== (me & OWNER_MASK)) return;
    Atomics.wait(states, slot, word, 5);
  }
}

/** The identity of the thread running the job in `slot` (0 while queued). */
export function ownerOf(states: Int32Array, slot: number): number {
  return Atomics.load(states, slot) & OWNER_MASK;
}

/** A job as a pool thread runs it. */
export interface Job {
  readonly url: string;
  readonly exportName: string;
  readonly args: unknown[];
  /** The caller's cross-thread TaskLocal values, `[name, value]`. */
  readonly locals: Array<[string, unknown]> | undefined;
}
