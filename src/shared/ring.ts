/**
 * The shared-channel ring buffer: variable-length frames in a SharedArrayBuffer, for any number
 * of senders and receivers on any threads.
 *
 * Memory layout (Int32 words, then bytes):
 *
 *     [0..95]   header: TAIL and the senders' lock, HEAD and the receivers' lock, USED (bytes in
 *               the ring), DATA / SPACE sequence words (what waiters wait on) with the counts of
 *               waiting receivers / senders, open SENDERS / RECEIVERS, CAPACITY, next endpoint
 *               slot — in groups of one cache line each (see below)
 *     [96..96+MAX_ENDPOINTS)   one word per endpoint ever opened: OPEN, then CLOSED
 *     then CAPACITY bytes of ring
 *
 * A frame is an 8-byte header (the payload length as an Int32, a 1-byte tag — see codec.ts —
 * and 3 bytes of padding) and the payload, padded to a multiple of 8 bytes. So every frame and
 * every payload starts 8-byte aligned: a header never wraps around the end of the ring (whose
 * capacity is a multiple of 8) and is read as one word, and payload copies run word by word.
 * (Copies into or out of a SharedArrayBuffer are V8's relaxed-atomic memcpy, which falls back to
 * one byte at a time when source and target are not aligned alike: 4x slower at 64 KiB.) A
 * payload may wrap around the end of the ring.
 *
 * Concurrency. Senders serialize among themselves with a spin lock (WLOCK), receivers with
 * another (RLOCK), and the two sides meet only through USED: a sender copies its frame in, then
 * `Atomics.add(USED)`; a receiver reads USED, copies a frame out, then `Atomics.sub(USED)`. All
 * Atomics operations are sequentially consistent, so the bytes a sender wrote before its add are
 * visible to a receiver after its load, and the space a receiver freed is visible to the next
 * sender. A lock is held only for one frame's copy.
 *
 * Waking. A sender that wrote bumps DATA and notifies it only if some receiver said it waits
 * (WAIT_RECV > 0); a receiver likewise bumps SPACE. A waiter reads the sequence word *before*
 * trying, counts itself in, and waits for the word to differ from what it read, so a wake-up
 * between its try and its wait is never lost. Closing an endpoint bumps and notifies both words,
 * so blocked peers re-check the open counts.
 */

import { isMainThread } from 'node:worker_threads';
import { BrokenResourceError } from './errors.js';

// Header words, grouped by who writes them, one 64-byte cache line (16 words) per group, so a
// sender's atomics do not keep stealing the line a receiver is using and the other way round.
export const H_TAIL = 0; // senders
export const H_WLOCK = 1;
export const H_HEAD = 16; // receivers
export const H_RLOCK = 17;
export const H_USED = 32; // both: the one word the two sides meet on
export const H_DATA = 48; // bumped by senders, watched by receivers
export const H_WAIT_RECV = 49;
export const H_SPACE = 64; // bumped by receivers, watched by senders
export const H_WAIT_SEND = 65;
export const H_SENDERS = 80; // rarely written
export const H_RECEIVERS = 81;
export const H_CAPACITY = 82;
export const H_NEXT_SLOT = 83;
const HEADER_WORDS = 96;
export const MAX_ENDPOINTS = 1024;
const SLOT_OPEN = 1;
const SLOT_CLOSED = 2;
const FRAME_HEADER = 8;
const ALIGN = 8;

/** The ring bytes a frame with `length` bytes of payload takes. */
function frameSize(length: number): number {
  return FRAME_HEADER + ((length + ALIGN - 1) & -ALIGN);
}

/** Largest ring a channel may have: sizes and positions stay within an Int32. */
export const MAX_CAPACITY = 2 ** 30;

/** The ring size used for `capacityBytes`: rounded up to a multiple of 8. */
export function ringCapacity(capacityBytes: number): number {
  return (capacityBytes + ALIGN - 1) & -ALIGN;
}

export type EndpointKind = 'send' | 'receive';

export interface RingView {
  readonly sab: SharedArrayBuffer;
  readonly header: Int32Array;
  /** The ring's bytes, as a Buffer for large copies (Buffer#copy)... */
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
  const header = new Int32Array(sab, 0, HEADER_WORDS);
  header[H_CAPACITY] = capacity;
  return sab;
}

export function viewRing(sab: SharedArrayBuffer): RingView {
  const header = new Int32Array(sab, 0, HEADER_WORDS + MAX_ENDPOINTS);
  const capacity = header[H_CAPACITY]!;
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

// ---- endpoints: open counts with a close-once slot each --------------------------------------

/** Opens an endpoint of `kind`; returns its slot. */
export function openEndpoint(ring: RingView, kind: EndpointKind): number {
  const slot = Atomics.add(ring.header, H_NEXT_SLOT, 1);
  if (slot >= MAX_ENDPOINTS) {
    throw new RangeError(`shared channel: more than ${MAX_ENDPOINTS} endpoints were opened on one channel`);
  }
  Atomics.store(ring.header, HEADER_WORDS + slot, SLOT_OPEN);
  Atomics.add(ring.header, kind === 'send' ? H_SENDERS : H_RECEIVERS, 1);
  return slot;
}

export function isEndpointOpen(ring: RingView, slot: number): boolean {
  return Atomics.load(ring.header, HEADER_WORDS + slot) === SLOT_OPEN;
}

/** Closes an endpoint's slot; false when it was already closed (by this thread or another). */
export function closeEndpoint(ring: RingView, kind: EndpointKind, slot: number): boolean {
  if (Atomics.compareExchange(ring.header, HEADER_WORDS + slot, SLOT_OPEN, SLOT_CLOSED) !== SLOT_OPEN) return false;
  const left = Atomics.sub(ring.header, kind === 'send' ? H_SENDERS : H_RECEIVERS, 1) - 1;
  if (kind === 'receive' && left === 0) {
    // The last receiver: drop what is buffered (senders get BrokenResourceError from now on).
    try {
      lock(ring.header, H_RLOCK);
      Atomics.store(ring.header, H_HEAD, Atomics.load(ring.header, H_TAIL));
      Atomics.store(ring.header, H_USED, 0);
      unlock(ring.header, H_RLOCK);
    } catch {
      // A broken ring (a lock never released): nothing can be read from it any more anyway.
    }
  }
  wakeAll(ring.header);
  return true;
}

export function wakeAll(header: Int32Array): void {
  Atomics.add(header, H_DATA, 1);
  Atomics.add(header, H_SPACE, 1);
  Atomics.notify(header, H_DATA);
  Atomics.notify(header, H_SPACE);
}

// ---- locks ---------------------------------------------------------------------------------------

// A lock word is 0 (free), 1 (held) or 2 (held, and someone may sleep on it), so unlocking
// costs one atomic exchange and notifies only when a thread actually went to sleep.
//
// A lock is held for one frame's copy. A thread killed in the middle of one (cancel: 'kill')
// never releases it, and the ring may hold half a frame: after LOCK_TIMEOUT_MS the channel is
// reported broken rather than spinning (on the main thread, freezing the event loop) forever.
const LOCK_TIMEOUT_MS = 250;

function lock(header: Int32Array, index: number): void {
  if (Atomics.compareExchange(header, index, 0, 1) === 0) return;
  let spins = 0;
  let deadline = 0;
  for (;;) {
    if ((++spins & 1023) === 0) {
      const now = performance.now();
      if (deadline === 0) deadline = now + LOCK_TIMEOUT_MS;
      else if (now > deadline) {
        throw new BrokenResourceError(
          'shared channel: a thread held its lock for too long (it was probably terminated mid-write); the channel is broken',
        );
      }
    }
    // Spin while the holder copies; past that, sleep briefly where blocking is allowed (the
    // main thread cannot block, so it keeps spinning).
    if (spins > 1000 && canBlock) {
      if (Atomics.exchange(header, index, 2) === 0) return;
      Atomics.wait(header, index, 2, 1);
    } else if (Atomics.compareExchange(header, index, 0, 1) === 0) {
      return;
    }
  }
}

function unlock(header: Int32Array, index: number): void {
  if (Atomics.exchange(header, index, 0) === 2) Atomics.notify(header, index, 1);
}

/** Atomics.wait is not allowed on the main thread. */
const canBlock = !isMainThread;

// ---- copying with wrap-around --------------------------------------------------------------------

// Frames of at most SMALL_COPY bytes of payload count as small (see tryReadMany).
//
// Copies in and out of the ring pick the cheapest way by size: up to TINY_COPY bytes by hand
// (cheaper than any call); up to FILL_COPY with TypedArray#set (one call; half the cost of a byte
// loop at 64 bytes); beyond, with Buffer#fill. Into or out of a SharedArrayBuffer, V8's #set (and
// Buffer#copy, which is #set in Node 20) copies word by word with relaxed atomics, at about half
// the speed of a plain copy; Buffer#fill given a value exactly as long as the range copies it
// once with a plain memcpy in C++, 1.5x faster at 64 KiB but with a fixed cost of ~100 ns.
// (A plain copy is safe here: the Atomics that hand a frame over order it, see above.)
const SMALL_COPY = 128;
const TINY_COPY = 16;
const FILL_COPY = 2048;

/** Copies all of `source` into `target` at `at` with one memcpy (see above). */
function memcpy(target: Uint8Array, at: number, source: Uint8Array): void {
  const to = target instanceof Buffer ? target : Buffer.from(target.buffer, target.byteOffset, target.byteLength);
  to.fill(source, at, at + source.byteLength);
}

/** Copies `source` into the ring at `position` (wrapping); returns the position after it. */
function copyIn(ring: RingView, position: number, source: Uint8Array): number {
  const { bytes, capacity } = ring;
  const length = source.byteLength;
  const first = Math.min(length, capacity - position);
  if (length <= TINY_COPY && first === length) {
    for (let i = 0; i < length; i++) bytes[position + i] = source[i]!;
  } else if (length < FILL_COPY) {
    if (first === length) {
      bytes.set(source, position);
    } else {
      bytes.set(source.subarray(0, first), position);
      bytes.set(source.subarray(first), 0);
    }
  } else {
    memcpy(ring.buffer, position, first === length ? source : source.subarray(0, first));
    if (first < length) memcpy(ring.buffer, 0, source.subarray(first));
  }
  return (position + length) % capacity;
}

/** Fills `target` from the ring at `position` (wrapping). */
function copyOut(ring: RingView, position: number, target: Uint8Array): void {
  const { bytes, capacity } = ring;
  const length = target.byteLength;
  const first = Math.min(length, capacity - position);
  if (length <= SMALL_COPY && first === length) {
    // By hand: a subarray to copy from costs as much as these bytes.
    for (let i = 0; i < length; i++) target[i] = bytes[position + i]!;
  } else if (length < FILL_COPY) {
    target.set(bytes.subarray(position, position + first));
    if (first < length) target.set(bytes.subarray(0, length - first), first);
  } else {
    memcpy(target, 0, bytes.subarray(position, position + first));
    if (first < length) memcpy(target, first, bytes.subarray(0, length - first));
  }
}

const numberBytes = new Uint8Array(8);
const numberView = new DataView(numberBytes.buffer);

export const enum WriteResult {
  Written,
  Full,
  NoReceivers,
}

/** The bytes a frame carries: `payload`, or `number` as 8 bytes (as in codec.ts). */
function frameBody(payload: Uint8Array | undefined, number: number | undefined): Uint8Array | undefined {
  if (number === undefined) return payload;
  numberView.setFloat64(0, number, true);
  return numberBytes;
}

/**
 * Copies one frame in at `tail` (8-aligned; the caller holds the write lock and checked the
 * space); returns the tail after it.
 */
function putFrame(ring: RingView, tail: number, tag: number, body: Uint8Array | undefined): number {
  const length = body === undefined ? 0 : body.byteLength;
  ring.words[tail >> 2] = length;
  ring.words[(tail >> 2) + 1] = tag;
  if (length > 0) copyIn(ring, (tail + FRAME_HEADER) % ring.capacity, body!);
  return (tail + frameSize(length)) % ring.capacity;
}

/** Tells waiting receivers that frames were written. */
function announceData(header: Int32Array): void {
  Atomics.add(header, H_DATA, 1);
  if (Atomics.load(header, H_WAIT_RECV) > 0) Atomics.notify(header, H_DATA);
}

/** Writes one frame if it fits. `payload` or `number` as in codec.ts. */
export function tryWrite(ring: RingView, tag: number, payload: Uint8Array | undefined, number: number | undefined): WriteResult {
  const header = ring.header;
  const body = frameBody(payload, number);
  const size = frameSize(body === undefined ? 0 : body.byteLength);
  lock(header, H_WLOCK);
  try {
    if (Atomics.load(header, H_RECEIVERS) === 0) return WriteResult.NoReceivers;
    if (ring.capacity - Atomics.load(header, H_USED) < size) return WriteResult.Full;
    Atomics.store(header, H_TAIL, putFrame(ring, Atomics.load(header, H_TAIL), tag, body));
    Atomics.add(header, H_USED, size);
  } finally {
    unlock(header, H_WLOCK);
  }
  announceData(header);
  return WriteResult.Written;
}

/** One encoded value to write (see codec.ts). */
export interface OutgoingFrame {
  tag: number;
  payload: Uint8Array | undefined;
  number: number | undefined;
}

/**
 * Writes `frames[from…]` for as long as they fit, under one acquisition of the write lock and
 * with one wake-up for all. Returns how many were written, or -1 when no receiver is open.
 */
export function tryWriteMany(ring: RingView, frames: readonly OutgoingFrame[], from: number): number {
  const header = ring.header;
  let written = 0;
  lock(header, H_WLOCK);
  try {
    if (Atomics.load(header, H_RECEIVERS) === 0) return -1;
    let free = ring.capacity - Atomics.load(header, H_USED);
    let tail = Atomics.load(header, H_TAIL);
    let added = 0;
    for (let i = from; i < frames.length; i++) {
      const { tag, payload, number } = frames[i]!;
      const body = frameBody(payload, number);
      const size = frameSize(body === undefined ? 0 : body.byteLength);
      if (size > free) break;
      tail = putFrame(ring, tail, tag, body);
      free -= size;
      added += size;
      written++;
    }
    if (written > 0) {
      Atomics.store(header, H_TAIL, tail);
      Atomics.add(header, H_USED, added);
    }
  } finally {
    unlock(header, H_WLOCK);
  }
  if (written > 0) announceData(header);
  return written;
}

export interface Frame {
  tag: number;
  payload: Uint8Array;
}

/** Tells waiting senders that space was freed. */
function announceSpace(header: Int32Array): void {
  Atomics.add(header, H_SPACE, 1);
  if (Atomics.load(header, H_WAIT_SEND) > 0) Atomics.notify(header, H_SPACE);
}

/** A buffer of `length` bytes the caller owns, 8-aligned (see the layout above). */
function ownBuffer(length: number): Uint8Array {
  // Small ones get a Uint8Array of their own; large ones skip zero-filling.
  if (length <= SMALL_COPY) return new Uint8Array(length);
  const buffer = Buffer.allocUnsafeSlow(length);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, length);
}

/**
 * Takes the next frame, if there is one: `into(tag, length)` sees its header and returns where
 * its payload is to be copied, or throws to refuse it (and then nothing is taken). Returns the
 * payload length, or -1 when the ring is empty.
 */
function readFrame(ring: RingView, into: (tag: number, length: number) => Uint8Array): number {
  const header = ring.header;
  let length: number;
  lock(header, H_RLOCK);
  try {
    if (Atomics.load(header, H_USED) === 0) return -1;
    const head = Atomics.load(header, H_HEAD);
    length = ring.words[head >> 2]!;
    copyOut(ring, (head + FRAME_HEADER) % ring.capacity, into(ring.words[(head >> 2) + 1]!, length));
    const size = frameSize(length);
    Atomics.store(header, H_HEAD, (head + size) % ring.capacity);
    Atomics.sub(header, H_USED, size);
  } finally {
    unlock(header, H_RLOCK);
  }
  announceSpace(header);
  return length;
}

/** Reads one frame into a buffer of its own, or returns undefined when the ring is empty. */
export function tryRead(ring: RingView): Frame | undefined {
  let frame: Frame | undefined;
  // A fresh copy the caller owns: the ring's bytes are reused as soon as we let go.
  readFrame(ring, (tag, length) => (frame = { tag, payload: ownBuffer(length) }).payload);
  return frame;
}

/**
 * Copies the payload of the next frame into `target` and returns its length, or -1 when the
 * ring is empty. `accept(tag, length)` sees the frame first: it throws to refuse it (a value that
 * is not bytes, or does not fit `target`), and then nothing is taken.
 */
export function tryReadInto(ring: RingView, target: Uint8Array, accept: (tag: number, length: number) => void): number {
  return readFrame(ring, (tag, length) => {
    accept(tag, length);
    return length === target.byteLength ? target : target.subarray(0, length);
  });
}

/**
 * Small frames read together share one buffer of at most this size (see tryReadMany): Node's
 * own Buffer pool size, so a small value keeps at most as much memory alive as a small Buffer.
 */
const SHARED_SPAN = 8192;
/** Scratch for the lengths of a span's frames (a span holds at most this many). */
const spanLengths = new Int32Array(SHARED_SPAN / FRAME_HEADER);

/**
 * Reads up to `max` frames under one acquisition of the read lock, appending their payloads to
 * `payloads` and their tags to `tags`, and wakes a waiting sender once for all of them. Returns
 * how many it read (0 when the ring is empty). (`tryRead` keeps its own path: for one value at a
 * time a view costs more than a small copy of its own.)
 *
 * Small frames are copied out in runs of at most 8 KiB, one copy per run, and their payloads are
 * views of that run's buffer: per value, no allocation of its own and no copy loop. A large
 * frame gets a buffer of its own, so a small value never keeps a large one alive.
 */
export function tryReadMany(ring: RingView, max: number, payloads: Uint8Array[], tags: number[]): number {
  const header = ring.header;
  const before = payloads.length;
  lock(header, H_RLOCK);
  let taken = 0;
  try {
    const used = Atomics.load(header, H_USED);
    if (used === 0) return 0;
    const head = Atomics.load(header, H_HEAD);
    while (taken < used && payloads.length - before < max) {
      taken += readSpan(ring, (head + taken) % ring.capacity, used - taken, max - (payloads.length - before), payloads, tags);
    }
    Atomics.store(header, H_HEAD, (head + taken) % ring.capacity);
    Atomics.sub(header, H_USED, taken);
  } finally {
    unlock(header, H_RLOCK);
  }
  announceSpace(header);
  return payloads.length - before;
}

/**
 * Reads, from `start`, either one large frame into a buffer of its own or a run of small frames
 * (at most SHARED_SPAN bytes) in one copy, as views of one buffer. Appends to `payloads` and
 * `tags`; returns the bytes taken from the ring. The caller holds the read lock.
 */
function readSpan(ring: RingView, start: number, available: number, max: number, payloads: Uint8Array[], tags: number[]): number {
  const { words, capacity } = ring;
  let count = 0;
  let taken = 0;
  while (taken < available && count < max) {
    const at = (start + taken) % capacity;
    const length = words[at >> 2]!;
    const size = frameSize(length);
    if (count > 0 && (length > SMALL_COPY || taken + size > SHARED_SPAN)) break;
    spanLengths[count++] = length;
    tags.push(words[(at >> 2) + 1]!);
    taken += size;
    if (length > SMALL_COPY) {
      // A large frame goes alone, into a buffer of its own.
      const payload = ownBuffer(length);
      copyOut(ring, (at + FRAME_HEADER) % capacity, payload);
      payloads.push(payload);
      return taken;
    }
  }
  const span = new Uint8Array(taken);
  copyOut(ring, start, span);
  const buffer = span.buffer;
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const length = spanLengths[i]!;
    payloads.push(new Uint8Array(buffer, offset + FRAME_HEADER, length));
    offset += frameSize(length);
  }
  return taken;
}
