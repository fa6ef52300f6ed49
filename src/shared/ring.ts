/**
 * The ring buffer under shared channels (and the worker scheduler): variable-length frames in a
 * SharedArrayBuffer, for any number of senders and receivers on any threads, that no thread can
 * wedge by dying.
 *
 * Memory layout (Int32 words, then bytes):
 *
 *     [0..95]   header, one 64-byte cache line (16 words) per group of words written together:
 *                 TAIL, the write lock and its sleeper count   (senders)
 *                 HEAD, the read lock and its sleeper count    (receivers)
 *                 DATA sequence word + receivers waiting on it (bumped by senders)
 *                 SPACE sequence word + senders waiting on it, promptly or lazily (bumped by receivers)
 *                 CAPACITY, the endpoint slots' high-water mark, BROKEN (rarely written)
 *     [96..96+MAX_ENDPOINTS)   one word per endpoint slot (see "Endpoints" below)
 *     then CAPACITY bytes of ring
 *
 * Positions. TAIL and HEAD count bytes modulo 2 × CAPACITY, so one word each says both where a
 * side is and, with the other, how much is in the ring: used = (TAIL − HEAD) mod 2·CAPACITY. A
 * byte's place in the ring is its position mod CAPACITY. (CAPACITY ≤ 2^30, so positions fit.)
 *
 * Frames. An 8-byte header (the payload length as an Int32, then an Int32 tag: a codec tag, or a
 * job's index for the scheduler) and the payload, padded to a multiple of 8. So every frame and
 * payload is 8-aligned, a header never wraps around the end, and payload copies run word by word
 * (V8 copies into shared memory one byte at a time when source and target are aligned unlike).
 * A payload may wrap around the end of the ring.
 *
 * Concurrency and memory ordering. Senders serialize on the write lock, receivers on the read
 * lock (owned-lock.ts: the holder is named, so a dead holder's lock is taken back). A sender
 * copies its frame into the free space past TAIL, then publishes it with one `Atomics.store` of
 * TAIL; a receiver copies a frame out from HEAD, then frees it with one store of HEAD. Those two
 * stores are the only changes either side makes that the other can see, and Atomics are
 * sequentially consistent: the bytes written before a TAIL store are visible to whoever loads
 * that TAIL, and bytes read before a HEAD store are done before the sender that loads it reuses
 * them. It follows that a thread dying at any instruction leaves the ring as it was before or
 * after its operation: the frame is wholly published or not at all. A frame that nonetheless
 * reads as impossible (worker code scribbling on the buffer) marks the ring BROKEN, which every
 * operation on every thread then reports as BrokenResourceError.
 *
 * Nothing is allocated under a lock: frames are copied out into a per-thread scratch buffer (the
 * caller then copies each value into a buffer of its own), and a frame too large for the scratch
 * is read into a buffer allocated before the lock is taken (the frame is peeked, the lock let go,
 * the buffer allocated, and the read tried again).
 *
 * Waking. A sender that published bumps DATA and notifies it only if some thread said it waits
 * (WAIT_RECV > 0); a receiver likewise bumps SPACE. A waiter reads the sequence word *before*
 * trying, counts itself in, and waits for the word to differ from what it read, so a wake-up
 * between its try and its wait is never lost. Closing an endpoint or breaking the ring bumps and
 * notifies both words.
 *
 * Lazy senders. A sender that blocks its thread (`sendSync` in a worker) and finds the ring full
 * counts itself in WAIT_SEND_LAZY instead, and sleeps until half the ring is free (or its frame
 * fits, if larger): receivers notify lazy senders only once a read leaves the ring at most half
 * full. Woken for every frame read instead, a producer faster than its consumer costs the
 * consumer a futex wake-up per value (tens of µs on a busy machine: more than the value itself)
 * and writes each frame into the cache line the consumer is reading. A lazy sender sleeps in
 * slices of a few milliseconds (it checks its call's cancel word between them) and writes what
 * fits after each, so a consumer that stops reading with the ring more than half full delays
 * such a sender by at most one slice, and can never leave it blocked while its frame fits.
 *
 * Looking ahead. A receiver taking values one at a time copies the frames behind the one it takes
 * without taking them, and takes each later only if no other read happened in between (see
 * LookAhead): a frame still leaves the ring only when its value is handed over.
 *
 * Endpoints. Each open endpoint holds a slot whose word is GEN << 3 | KIND << 2 | OPEN. Opening
 * takes a free slot with one compare-and-swap (bumping its generation); closing frees it with one
 * compare-and-swap from the exact word it opened with, so a slot closes once, a stale close of a
 * reused slot does nothing, and a thread dying mid-open or mid-close leaves the slot either open
 * (then the call that owned it closes it when it settles) or free. Open counts are not kept: they
 * are counted from the slots (up to the high-water mark), so no thread can die between a slot
 * and a count and leave them disagreeing.
 */
import { BrokenResourceError } from './errors.js';
import { lockSync, tryLock, unlock } from './owned-lock.js';
import { isMainThread } from 'node:worker_threads';

// Header words, grouped by who writes them (one cache line per group).
export const H_TAIL = 0;
export const H_WLOCK = 1; // + H_WLOCK + 1: sleepers
export const H_HEAD = 16;
export const H_RLOCK = 17; // + 1: sleepers
export const H_DATA = 32;
export const H_WAIT_RECV = 33;
const H_WAIT_SEEN = 34; // a sole reader's `seen` (see WAKE_SOLE_READER)
export const H_SPACE = 48;
export const H_WAIT_SEND = 49;
export const H_WAIT_SEND_LAZY = 50;
export const H_CAPACITY = 64;
const H_SLOT_HWM = 65;
const H_BROKEN = 66;
const HEADER_WORDS = 96;
export const MAX_ENDPOINTS = 1024;
const FRAME_HEADER = 8;
const ALIGN = 8;

/** The ring bytes a frame with `length` bytes of payload takes. */
export function frameSize(length: number): number {
  return FRAME_HEADER + ((length + ALIGN - 1) & -ALIGN);
}

/** Largest ring a channel may have: positions (mod 2 × capacity) stay within an Int32. */
export const MAX_CAPACITY = 2 ** 30;

/** The ring size used for `capacityBytes`: rounded up to a multiple of 8. */
export function ringCapacity(capacityBytes: number): number {
  return (capacityBytes + ALIGN - 1) & -ALIGN;
}

export type EndpointKind = 'send' | 'receive';

export interface RingView {
  readonly sab: SharedArrayBuffer;
  readonly header: Int32Array;
  /** The ring's bytes, as a Buffer for large copies... */
  readonly buffer: Buffer;
  /** ...as a plain Uint8Array for byte access (faster than through a Buffer)... */
  readonly bytes: Uint8Array;
  /** ...and as Int32 words, for frame headers. */
  readonly words: Int32Array;
  readonly capacity: number;
}

/** Where the ring's bytes start in the SharedArrayBuffer (a multiple of 64: cache-line aligned). */
const DATA_OFFSET = (HEADER_WORDS + MAX_ENDPOINTS) * 4;

/** A new ring of `ringCapacity(capacityBytes)` bytes. */
export function createRing(capacityBytes: number): SharedArrayBuffer {
  const capacity = ringCapacity(capacityBytes);
  const sab = new SharedArrayBuffer(DATA_OFFSET + capacity);
  new Int32Array(sab, 0, HEADER_WORDS)[H_CAPACITY] = capacity;
  return sab;
}

/**
 * A view of a ring that came from anywhere: its capacity is checked against its size, so a
 * forged or damaged header fails here, clearly, instead of as an out-of-range read later.
 */
export function viewRing(sab: SharedArrayBuffer): RingView {
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < DATA_OFFSET + 8) {
    throw new TypeError('shared channel: not a shared channel buffer');
  }
  const header = new Int32Array(sab, 0, HEADER_WORDS + MAX_ENDPOINTS);
  const capacity = Atomics.load(header, H_CAPACITY);
  if (capacity < 8 || capacity % ALIGN !== 0 || capacity > MAX_CAPACITY || DATA_OFFSET + capacity > sab.byteLength) {
    throw new TypeError(`shared channel: the buffer's header is damaged (capacity ${capacity})`);
  }
  return {
    sab,
    header,
    buffer: Buffer.from(sab, DATA_OFFSET, capacity),
    bytes: new Uint8Array(sab, DATA_OFFSET, capacity),
    words: new Int32Array(sab, DATA_OFFSET, capacity / 4),
    capacity,
  };
}

/** Largest payload a frame can carry in this ring. */
export function maxPayload(ring: RingView): number {
  return ring.capacity - FRAME_HEADER;
}

/** Bytes of frames in the ring now. */
export function usedBytes(ring: RingView): number {
  return publishedFrom(ring, Atomics.load(ring.header, H_HEAD));
}

/** Bytes published from position `head` up to TAIL (a reader's view under the read lock). */
function publishedFrom(ring: RingView, head: number): number {
  const span = 2 * ring.capacity;
  return (Atomics.load(ring.header, H_TAIL) - head + span) % span;
}

// ---- broken (sticky) -----------------------------------------------------------------------------

export function isBroken(ring: RingView): boolean {
  return Atomics.load(ring.header, H_BROKEN) !== 0;
}

function brokenError(): BrokenResourceError {
  return new BrokenResourceError('shared channel: its buffer held a malformed frame (written by code outside triode); the channel is broken');
}

/** Marks the ring broken for every thread and wakes every waiter, here and elsewhere. */
function breakRing(ring: RingView): BrokenResourceError {
  Atomics.store(ring.header, H_BROKEN, 1);
  wakeAll(ring.header);
  return brokenError();
}

function checkNotBroken(ring: RingView): void {
  if (Atomics.load(ring.header, H_BROKEN) !== 0) throw brokenError();
}

// ---- endpoints -----------------------------------------------------------------------------------

const SLOT_OPEN = 1;
const KIND_RECEIVE = 4;
const GEN_MASK = 0x0fffffff;

/** An open endpoint's slot and the exact word it was opened with. */
export interface EndpointSlot {
  readonly slot: number;
  readonly word: number;
}

/** Opens an endpoint of `kind` in a free slot. RangeError when MAX_ENDPOINTS are open at once. */
export function openEndpoint(ring: RingView, kind: EndpointKind): EndpointSlot {
  const header = ring.header;
  for (let slot = 0; slot < MAX_ENDPOINTS; slot++) {
    const old = Atomics.load(header, HEADER_WORDS + slot);
    if ((old & SLOT_OPEN) !== 0) continue;
    const word = ((((old >>> 3) + 1) & GEN_MASK) << 3) | (kind === 'receive' ? KIND_RECEIVE : 0) | SLOT_OPEN;
    if (Atomics.compareExchange(header, HEADER_WORDS + slot, old, word) !== old) continue;
    for (let hwm = Atomics.load(header, H_SLOT_HWM); hwm <= slot; hwm = Atomics.load(header, H_SLOT_HWM)) {
      if (Atomics.compareExchange(header, H_SLOT_HWM, hwm, slot + 1) === hwm) break;
    }
    return { slot, word };
  }
  throw new RangeError(`shared channel: more than ${MAX_ENDPOINTS} endpoints of one channel are open at once`);
}

export function isEndpointOpen(ring: RingView, endpoint: EndpointSlot): boolean {
  return Atomics.load(ring.header, HEADER_WORDS + endpoint.slot) === endpoint.word;
}

/** Closes an endpoint's slot; false when it was already closed (by this thread or another). */
export function closeEndpoint(ring: RingView, endpoint: EndpointSlot): boolean {
  const { slot, word } = endpoint;
  if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_ENDPOINTS) return false;
  if (Atomics.compareExchange(ring.header, HEADER_WORDS + slot, word, word & ~(SLOT_OPEN | KIND_RECEIVE)) !== word) return false;
  if ((word & KIND_RECEIVE) !== 0 && !anyEndpoint(ring, 'receive')) dropBuffered(ring);
  wakeAll(ring.header);
  return true;
}

/** The last receiver closed: what is buffered can never be read, so it is dropped (as a memory channel does). */
function dropBuffered(ring: RingView): void {
  if (!acquire(ring, H_RLOCK)) return; // a live reader that is not an endpoint any more: it will let go
  try {
    Atomics.store(ring.header, H_HEAD, Atomics.load(ring.header, H_TAIL));
  } finally {
    unlock(ring.header, H_RLOCK);
  }
}

/** Open endpoints of `kind`, counted from the slots. */
export function countEndpoints(ring: RingView, kind: EndpointKind): number {
  const header = ring.header;
  const want = (kind === 'receive' ? KIND_RECEIVE : 0) | SLOT_OPEN;
  const hwm = Math.min(Atomics.load(header, H_SLOT_HWM), MAX_ENDPOINTS);
  let count = 0;
  for (let slot = 0; slot < hwm; slot++) if ((Atomics.load(header, HEADER_WORDS + slot) & 5) === want) count++;
  return count;
}

/** Whether any endpoint of `kind` is open (stops at the first). */
export function anyEndpoint(ring: RingView, kind: EndpointKind): boolean {
  const header = ring.header;
  const want = (kind === 'receive' ? KIND_RECEIVE : 0) | SLOT_OPEN;
  const hwm = Math.min(Atomics.load(header, H_SLOT_HWM), MAX_ENDPOINTS);
  for (let slot = 0; slot < hwm; slot++) if ((Atomics.load(header, HEADER_WORDS + slot) & 5) === want) return true;
  return false;
}

export function wakeAll(header: Int32Array): void {
  Atomics.add(header, H_DATA, 1);
  Atomics.add(header, H_SPACE, 1);
  Atomics.notify(header, H_DATA);
  Atomics.notify(header, H_SPACE);
}

// ---- locks -------------------------------------------------------------------------------------

/** Returned when the main thread found a lock held by a live thread (it never blocks on one). */
export const BUSY = -2;

/** Takes a side's lock: blocking in a worker; false on the main thread when it is held. */
function acquire(ring: RingView, index: number): boolean {
  if (isMainThread) return tryLock(ring.header, index);
  lockSync(ring.header, index);
  return true;
}

// ---- copying with wrap-around --------------------------------------------------------------------

// Copies in and out of the ring pick the cheapest way by size: up to TINY_COPY bytes by hand
// (cheaper than any call); up to FILL_COPY with TypedArray#set; beyond, with Buffer#fill given a
// value exactly as long as the range, which is one plain memcpy in C++ (V8's #set into or out of
// shared memory copies word by word with relaxed atomics, at about half the speed). A plain copy
// is safe here: the Atomics that hand a frame over order it (see above).
const TINY_COPY = 16;
const FILL_COPY = 2048;

/** Copies all of `source` into `target` at `at` with one memcpy (see above). */
function memcpy(target: Uint8Array, at: number, source: Uint8Array): void {
  const to = target instanceof Buffer ? target : Buffer.from(target.buffer, target.byteOffset, target.byteLength);
  to.fill(source, at, at + source.byteLength);
}

/** Copies `source` into the ring at `place` (wrapping). */
function copyIn(ring: RingView, place: number, source: Uint8Array): void {
  const { bytes, capacity } = ring;
  const length = source.byteLength;
  const first = Math.min(length, capacity - place);
  if (length <= TINY_COPY && first === length) {
    for (let i = 0; i < length; i++) bytes[place + i] = source[i]!;
  } else if (length < FILL_COPY) {
    if (first === length) {
      bytes.set(source, place);
    } else {
      bytes.set(source.subarray(0, first), place);
      bytes.set(source.subarray(first), 0);
    }
  } else {
    memcpy(ring.buffer, place, first === length ? source : source.subarray(0, first));
    if (first < length) memcpy(ring.buffer, 0, source.subarray(first));
  }
}

/** Fills `target` from the ring at `place` (wrapping). */
function copyOut(ring: RingView, place: number, target: Uint8Array): void {
  const { bytes, capacity } = ring;
  const length = target.byteLength;
  const first = Math.min(length, capacity - place);
  if (length <= TINY_COPY && first === length) {
    for (let i = 0; i < length; i++) target[i] = bytes[place + i]!;
  } else if (length < FILL_COPY) {
    target.set(bytes.subarray(place, place + first));
    if (first < length) target.set(bytes.subarray(0, length - first), first);
  } else {
    memcpy(target, 0, bytes.subarray(place, place + first));
    if (first < length) memcpy(target, first, bytes.subarray(0, length - first));
  }
}

// ---- writing -------------------------------------------------------------------------------------

export const enum WriteResult {
  Written,
  Full,
  NoReceivers,
  Busy,
}

/** One value to write: a tag and its payload bytes (see codec.ts). */
export interface OutgoingFrame {
  tag: number;
  payload: Uint8Array | undefined;
}

/** Writes one frame at position `tail` (the caller holds the write lock and checked the space). */
function putFrame(ring: RingView, tail: number, tag: number, body: Uint8Array | undefined): number {
  const length = body === undefined ? 0 : body.byteLength;
  const place = tail % ring.capacity;
  ring.words[place >> 2] = length;
  ring.words[(place >> 2) + 1] = tag;
  if (length > 0) copyIn(ring, (place + FRAME_HEADER) % ring.capacity, body!);
  return (tail + frameSize(length)) % (2 * ring.capacity);
}

/**
 * `wake` for a ring read by one thread only (the scheduler's reply rings). Its reader does not
 * count itself in WAIT_RECV: it stores the DATA value it is about to wait on in WAIT_SEEN, then
 * WAIT_RECV = 1 (soleReaderWait), and the first writer whose frame that value does not cover
 * takes WAIT_RECV back to 0 with a compare-and-swap as it wakes the reader. So the writers that
 * publish before the reader runs again make no futex call at all (with a count, every one of
 * them would notify until the reader's callback ran).
 *
 * Why no wake-up is lost: a writer wakes the reader only if its DATA increment came after the
 * reader read `seen` (`before − seen ≥ 0`); an earlier writer's frame was read by the reader
 * after that load, and such a writer leaves the flag alone. A later writer either bumped DATA
 * before the reader's Atomics.waitAsync compared it (the wait returns at once) or after the wait
 * was registered (then the flag is still 1, or another such writer took it and woke the reader).
 */
export const WAKE_SOLE_READER = -1;

/**
 * The sole reader: waits asynchronously for DATA to move past `seen` (read before it last read
 * the ring), or for `timeoutMs` — a reader that looks again now and then cannot be left asleep
 * for good by a wake-up that never comes (any thread can scribble on the header).
 */
export function soleReaderWait(ring: RingView, seen: number, timeoutMs = Infinity): ReturnType<typeof Atomics.waitAsync> {
  const header = ring.header;
  Atomics.store(header, H_WAIT_SEEN, seen);
  Atomics.store(header, H_WAIT_RECV, 1);
  const waiting = Atomics.waitAsync(header, H_DATA, seen, timeoutMs);
  if (!waiting.async) Atomics.store(header, H_WAIT_RECV, 0);
  return waiting;
}

/** The sole reader, woken: it no longer sleeps. */
export function soleReaderAwake(ring: RingView): void {
  Atomics.store(ring.header, H_WAIT_RECV, 0);
}

/**
 * Tells waiting receivers (up to `wake` threads; none for 0: the writer wakes them later;
 * WAKE_SOLE_READER: see there) that frames were published.
 */
function announceData(header: Int32Array, wake = Infinity): void {
  wakeReaders(header, Atomics.add(header, H_DATA, 1), wake);
}

/**
 * @internal announceData's second half: wakes readers for a frame whose DATA increment found
 * DATA at `before`. (Apart so a test can run it late, as a writer paused between the two would.)
 */
export function wakeReaders(header: Int32Array, before: number, wake: number): void {
  if (wake === 0 || Atomics.load(header, H_WAIT_RECV) <= 0) return;
  if (wake !== WAKE_SOLE_READER) {
    Atomics.notify(header, H_DATA, wake);
  } else if (((before - Atomics.load(header, H_WAIT_SEEN)) | 0) >= 0 && Atomics.compareExchange(header, H_WAIT_RECV, 1, 0) === 1) {
    Atomics.notify(header, H_DATA, 1);
  }
}

/**
 * Writes one frame if it fits, waking up to `wake` sleeping threads. Busy: on the main thread,
 * the write lock is held by a live thread.
 */
export function tryWrite(ring: RingView, tag: number, payload: Uint8Array | undefined, wake = Infinity): WriteResult {
  const header = ring.header;
  const size = frameSize(payload === undefined ? 0 : payload.byteLength);
  checkNotBroken(ring);
  if (!acquire(ring, H_WLOCK)) return WriteResult.Busy;
  try {
    if (!anyEndpoint(ring, 'receive')) return WriteResult.NoReceivers;
    const tail = Atomics.load(header, H_TAIL);
    const span = 2 * ring.capacity;
    if (ring.capacity - (tail - Atomics.load(header, H_HEAD) + span) % span < size) return WriteResult.Full;
    // Publish: the one store a reader can see (see above).
    Atomics.store(header, H_TAIL, putFrame(ring, tail, tag, payload));
  } finally {
    unlock(header, H_WLOCK);
  }
  announceData(header, wake);
  return WriteResult.Written;
}

/**
 * Writes `frames[from…]` for as long as they fit, publishing them together under one lock, with
 * one wake-up; at most `maxBytes` per call, so the lock is held for a bounded copy. Returns how
 * many were written, -1 when no receiver is open, BUSY as in tryWrite.
 */
export function tryWriteMany(ring: RingView, frames: readonly OutgoingFrame[], from: number, maxBytes = 1 << 20): number {
  const header = ring.header;
  let written = 0;
  checkNotBroken(ring);
  if (!acquire(ring, H_WLOCK)) return BUSY;
  try {
    if (!anyEndpoint(ring, 'receive')) return -1;
    const start = Atomics.load(header, H_TAIL);
    const span = 2 * ring.capacity;
    let free = ring.capacity - (start - Atomics.load(header, H_HEAD) + span) % span;
    let budget = maxBytes;
    let tail = start;
    for (let i = from; i < frames.length; i++) {
      const { tag, payload } = frames[i]!;
      const size = frameSize(payload === undefined ? 0 : payload.byteLength);
      if (size > free || (written > 0 && size > budget)) break;
      tail = putFrame(ring, tail, tag, payload);
      free -= size;
      budget -= size;
      written++;
    }
    if (written > 0) Atomics.store(header, H_TAIL, tail);
  } finally {
    unlock(header, H_WLOCK);
  }
  if (written > 0) announceData(header);
  return written;
}

// ---- reading -------------------------------------------------------------------------------------

/** The free bytes a lazy sender waits for, to write a frame of `size` bytes (see "Lazy senders" above). */
export function lazyFree(ring: RingView, size: number): number {
  return Math.max(size, ring.capacity >> 1);
}

/**
 * Tells waiting senders that space was freed, leaving `used` bytes in the ring: prompt ones
 * always, lazy ones once the ring is at most half full (see "Lazy senders" above). Returns SPACE
 * as it was before.
 */
function announceSpace(ring: RingView, used: number): number {
  const header = ring.header;
  const before = Atomics.add(header, H_SPACE, 1);
  if (Atomics.load(header, H_WAIT_SEND) > 0 || (Atomics.load(header, H_WAIT_SEND_LAZY) > 0 && ring.capacity - used >= lazyFree(ring, 0))) {
    Atomics.notify(header, H_SPACE);
  }
  return before;
}

/** A buffer of `length` bytes the caller owns. */
function ownBuffer(length: number): Uint8Array {
  if (length <= 4096) return new Uint8Array(length);
  const buffer = Buffer.allocUnsafeSlow(length); // no zero-filling: every byte is copied over
  return new Uint8Array(buffer.buffer, buffer.byteOffset, length);
}

/**
 * Frames read together are copied out into this thread's scratch (allocated once, so nothing is
 * allocated under the read lock), then each payload is copied into a buffer of its own.
 */
const SCRATCH = 64 * 1024;
/** Payloads above this get a buffer of their own, allocated before the lock, and are read alone. */
const LARGE = 2048;
/** Where readFrames copies frames out to: their bytes, and each one's length and tag. */
interface ReadScratch {
  readonly bytes: Uint8Array;
  readonly lengths: Int32Array;
  readonly tags: Int32Array;
}
function newScratch(): ReadScratch {
  return { bytes: new Uint8Array(SCRATCH), lengths: new Int32Array(SCRATCH / FRAME_HEADER), tags: new Int32Array(SCRATCH / FRAME_HEADER) };
}
let threadScratch: ReadScratch | undefined;

/** The length of the frame at position `at` with `available` bytes published from there; breaks the ring if impossible. */
function frameLength(ring: RingView, at: number, available: number): number {
  const length = ring.words[(at % ring.capacity) >> 2]!;
  if (!(length >= 0 && frameSize(length) <= available)) throw breakRing(ring);
  return length;
}

/**
 * The length of a frame further on in a read (not the first), or -1 when it reads as impossible:
 * the read then stops before it, and the frame breaks the ring when it is first in line
 * (frameLength) — the frames before it are as good as ever.
 */
function laterFrameLength(ring: RingView, at: number, available: number): number {
  const length = ring.words[(at % ring.capacity) >> 2]!;
  return length >= 0 && frameSize(length) <= available ? length : -1;
}

/**
 * Receives the payloads and tags of frames read by `readFrames`; `own`: the payload is a buffer of
 * its own (false: a borrowed view, see readFrames).
 */
export type FrameSink = (tag: number, payload: Uint8Array, own: boolean) => void;

/** Whether a readFrames call is under way on this thread (a sink that reads again gets a scratch of its own). */
let reading = false;

/**
 * Reads up to `max` frames, handing each (tag, payload in a buffer of its own) to `sink` after
 * the lock is released. `claim(tag)`, when given, is asked under the lock for each frame: a frame
 * it refuses is taken out of the ring and dropped (the scheduler claims jobs this way: see
 * scheduler.ts). Returns how many were handed over (0 when the ring is empty or every frame was
 * dropped), BUSY as in tryWrite.
 *
 * `borrowed`: small payloads are handed as views of this thread's scratch instead of copies,
 * valid only until the next read on this thread — for a sink that decodes them at once (the
 * scheduler's jobs and outcomes), which then pays no allocation of its own per frame.
 */
export function readFrames(ring: RingView, max: number, sink: FrameSink, claim?: (tag: number) => boolean, borrowed = false): number {
  if (reading) return readFramesWith(ring, max, sink, claim, borrowed, newScratch());
  reading = true;
  try {
    return readFramesWith(ring, max, sink, claim, borrowed, (threadScratch ??= newScratch()));
  } finally {
    reading = false;
  }
}

function readFramesWith(
  ring: RingView,
  max: number,
  sink: FrameSink,
  claim: ((tag: number) => boolean) | undefined,
  borrowed: boolean,
  { bytes: scratch, lengths: scratchLengths, tags: scratchTags }: ReadScratch,
): number {
  const header = ring.header;
  const { capacity } = ring;
  const span = 2 * capacity;
  let large: Uint8Array | undefined;
  for (;;) {
    checkNotBroken(ring);
    let frames = 0; // frames taken out of the ring, into the scratch
    let largeTag = 0;
    let tookLarge = false;
    let needLarge = -1;
    let dropped = false;
    let left = 0; // bytes left in the ring after this read
    if (!acquire(ring, H_RLOCK)) return BUSY;
    try {
      const head = Atomics.load(header, H_HEAD);
      const used = publishedFrom(ring, head);
      if (used === 0) return 0;
      const first = frameLength(ring, head, used);
      if (first > LARGE) {
        // A large frame is read alone, into a buffer allocated outside the lock.
        const tag = ring.words[((head % capacity) >> 2) + 1]!;
        if (large === undefined || large.byteLength !== first) {
          needLarge = first; // claimed (if at all) on the next try, once the buffer is ready
        } else if (claim !== undefined && !claim(tag)) {
          dropped = true;
        } else {
          largeTag = tag;
          tookLarge = true;
          copyOut(ring, (head + FRAME_HEADER) % capacity, large);
        }
        if (needLarge < 0) Atomics.store(header, H_HEAD, (head + frameSize(first)) % span);
        left = used - frameSize(first);
      } else {
        let taken = 0;
        let delivered = 0;
        while (delivered < max && taken < used) {
          const at = head + taken;
          const length = frames === 0 ? first : laterFrameLength(ring, at, used - taken);
          if (length < 0) break;
          const size = frameSize(length);
          if (length > LARGE || taken + size > SCRATCH) break;
          const tag = ring.words[((at % capacity) >> 2) + 1]!;
          const keep = claim === undefined || claim(tag);
          scratchLengths[frames] = keep ? length : -1 - length;
          scratchTags[frames] = tag;
          if (keep) delivered++;
          taken += size;
          frames++;
        }
        copyOut(ring, head % capacity, scratch.subarray(0, taken));
        Atomics.store(header, H_HEAD, (head + taken) % span);
        left = used - taken;
      }
    } finally {
      unlock(header, H_RLOCK);
    }
    if (needLarge >= 0) {
      large = ownBuffer(needLarge);
      continue;
    }
    announceSpace(ring, left);
    if (tookLarge) {
      sink(largeTag, large!, true);
      return 1;
    }
    if (dropped) continue;
    let offset = 0;
    let delivered = 0;
    for (let i = 0; i < frames; i++) {
      const mark = scratchLengths[i]!;
      const length = mark < 0 ? -1 - mark : mark;
      if (mark >= 0) {
        const from = offset + FRAME_HEADER;
        sink(scratchTags[i]!, borrowed ? scratch.subarray(from, from + length) : scratch.slice(from, from + length), !borrowed);
        delivered++;
      }
      offset += frameSize(length);
    }
    if (delivered === 0 && frames > 0) continue; // every frame was dropped: look at the next ones
    return delivered;
  }
}

/**
 * Copies the payload of the next frame into `target` and returns its length; -1 when the ring is
 * empty; BUSY as in tryWrite. `refuse(tag, length)` sees the frame first and returns an error to
 * refuse it (a value that is not bytes, or does not fit `target`): then nothing is taken and the
 * error is thrown.
 */
export function readInto(ring: RingView, target: Uint8Array, refuse: (tag: number, length: number) => Error | undefined): number {
  const header = ring.header;
  const { capacity } = ring;
  const span = 2 * capacity;
  checkNotBroken(ring);
  let length: number;
  let refused: Error | undefined;
  let left = 0;
  if (!acquire(ring, H_RLOCK)) return BUSY;
  try {
    const head = Atomics.load(header, H_HEAD);
    const used = publishedFrom(ring, head);
    if (used === 0) return -1;
    length = frameLength(ring, head, used);
    refused = refuse(ring.words[((head % capacity) >> 2) + 1]!, length);
    if (refused === undefined) {
      copyOut(ring, (head + FRAME_HEADER) % capacity, length === target.byteLength ? target : target.subarray(0, length));
      Atomics.store(header, H_HEAD, (head + frameSize(length)) % span);
      left = used - frameSize(length);
    }
  } finally {
    unlock(header, H_RLOCK);
  }
  if (refused !== undefined) throw refused;
  announceSpace(ring, left);
  return length;
}

// ---- looking ahead -------------------------------------------------------------------------------

/**
 * A receive endpoint's look-ahead, so that values taken one at a time (`for await`, `receive()`)
 * do not each pay a whole read. `readAhead` takes the next frame as any read does and, under the
 * same lock, copies the small frames after it into the endpoint's own buffer *without taking
 * them*. `takeAhead` then takes the next of those with the lock, three loads and a store — no
 * copy out of shared memory, no bounds checks — but only if no reader took anything meanwhile:
 * HEAD is where this look-ahead left it, and SPACE (bumped after every read and every close)
 * moved only by this endpoint's own takes. (HEAD alone could be brought round to the same
 * position, modulo 2 × CAPACITY, by other readers, with other frames behind it; every such read
 * bumps SPACE.) Otherwise the look-ahead is dropped and its frames are read again from the ring.
 *
 * So a frame leaves the ring only when its value is handed over, as with every other read: an
 * endpoint that closes, or a thread that dies, with frames looked at loses none of them, and
 * order holds among any number of receivers.
 */
export class LookAhead {
  /** The frames looked at, back to back as they were in the ring (header and padded payload). */
  readonly bytes = new Uint8Array(LOOK_AHEAD_BYTES);
  readonly offsets = new Int32Array(LOOK_AHEAD_FRAMES);
  readonly lengths = new Int32Array(LOOK_AHEAD_FRAMES);
  readonly tags = new Int32Array(LOOK_AHEAD_FRAMES);
  /** The next frame to take, and how many there are. */
  next = 0;
  count = 0;
  /** Where the next frame starts in the ring, and SPACE as it must still be to take it. */
  head = 0;
  space = 0;

  /** Whether a frame looked at is left to take. */
  get pending(): boolean {
    return this.next < this.count;
  }

  /** Forgets the frames looked at (they are still in the ring). */
  drop(): void {
    this.next = this.count = 0;
  }

  /**
   * Frame `index`'s payload: in a buffer of its own, or (`own: false`) a view of this look-ahead,
   * valid until its next readAhead — for a payload decoded at once into a value that does not
   * keep it.
   */
  payload(index: number, own = true): Uint8Array {
    const from = this.offsets[index]! + FRAME_HEADER;
    const to = from + this.lengths[index]!;
    return own ? this.bytes.slice(from, to) : this.bytes.subarray(from, to);
  }
}
/** At most this many bytes and frames are looked at at once (the first frame's included). */
const LOOK_AHEAD_BYTES = 4096;
const LOOK_AHEAD_FRAMES = 64;

/** readAhead's answer when the next frame is too large to look at: read it with readFrames. */
export const NOT_SMALL = -3;

/**
 * Takes the next frame into `ahead` (frame 0; `ahead.next` is 1) and looks at up to `frames` − 1
 * small frames after it. Returns 1, 0 when the ring is empty, BUSY as in tryWrite, or NOT_SMALL.
 */
export function readAhead(ring: RingView, ahead: LookAhead, frames: number): number {
  const header = ring.header;
  const { capacity } = ring;
  const span = 2 * capacity;
  const room = ahead.bytes.byteLength;
  const limit = Math.min(frames, LOOK_AHEAD_FRAMES);
  ahead.drop();
  checkNotBroken(ring);
  let count = 0;
  let left = 0;
  let space = 0;
  if (!acquire(ring, H_RLOCK)) return BUSY;
  try {
    const head = Atomics.load(header, H_HEAD);
    const used = publishedFrom(ring, head);
    if (used === 0) return 0;
    const first = frameLength(ring, head, used);
    if (frameSize(first) > room) return NOT_SMALL;
    let taken = 0;
    while (count < limit && taken < used) {
      const at = head + taken;
      const length = count === 0 ? first : laterFrameLength(ring, at, used - taken);
      if (length < 0) break;
      const size = frameSize(length);
      if (taken + size > room) break;
      ahead.offsets[count] = taken;
      ahead.lengths[count] = length;
      ahead.tags[count] = ring.words[((at % capacity) >> 2) + 1]!;
      taken += size;
      count++;
    }
    copyOut(ring, head % capacity, ahead.bytes.subarray(0, taken));
    ahead.head = (head + frameSize(first)) % span;
    Atomics.store(header, H_HEAD, ahead.head);
    left = used - frameSize(first);
    space = Atomics.load(header, H_SPACE);
  } finally {
    unlock(header, H_RLOCK);
  }
  // Another read's SPACE bump between the load above and this one: the look-ahead cannot be
  // trusted (see LookAhead), so only the frame taken is kept.
  const before = announceSpace(ring, left);
  ahead.space = before + 1;
  ahead.count = before === space ? count : 1;
  ahead.next = 1;
  return 1;
}

/**
 * Takes `ahead`'s next frame out of the ring if no other reader took anything since: returns
 * its index in `ahead`, -1 when the look-ahead was stale (it is dropped: read again), BUSY as
 * in tryWrite.
 */
export function takeAhead(ring: RingView, ahead: LookAhead): number {
  const header = ring.header;
  const span = 2 * ring.capacity;
  const index = ahead.next;
  checkNotBroken(ring);
  let left = -1;
  if (!acquire(ring, H_RLOCK)) return BUSY;
  try {
    if (Atomics.load(header, H_HEAD) === ahead.head && Atomics.load(header, H_SPACE) === ahead.space) {
      const head = (ahead.head + frameSize(ahead.lengths[index]!)) % span;
      Atomics.store(header, H_HEAD, head);
      ahead.head = head;
      left = publishedFrom(ring, head);
    }
  } finally {
    unlock(header, H_RLOCK);
  }
  if (left < 0) {
    ahead.drop();
    return -1;
  }
  const before = announceSpace(ring, left);
  if (before !== ahead.space) ahead.count = index + 1; // another read's bump: nothing more to trust
  ahead.space = before + 1;
  ahead.next = index + 1;
  return index;
}
