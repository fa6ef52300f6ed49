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
 * A frame is a 4-byte payload length, a 1-byte tag (see codec.ts) and the payload; it may wrap
 * around the end of the ring.
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
const FRAME_HEADER = 5;

export type EndpointKind = 'send' | 'receive';

export interface RingView {
  readonly sab: SharedArrayBuffer;
  readonly header: Int32Array;
  /** The ring's bytes, as a Buffer for fast copies. */
  readonly buffer: Buffer;
  readonly capacity: number;
}

export function createRing(capacityBytes: number): SharedArrayBuffer {
  const dataOffset = (HEADER_WORDS + MAX_ENDPOINTS) * 4;
  const sab = new SharedArrayBuffer(dataOffset + capacityBytes);
  const header = new Int32Array(sab, 0, HEADER_WORDS);
  header[H_CAPACITY] = capacityBytes;
  return sab;
}

export function viewRing(sab: SharedArrayBuffer): RingView {
  const header = new Int32Array(sab, 0, HEADER_WORDS + MAX_ENDPOINTS);
  const capacity = header[H_CAPACITY]!;
  const buffer = Buffer.from(sab, (HEADER_WORDS + MAX_ENDPOINTS) * 4, capacity);
  return { sab, header, buffer, capacity };
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

// Large copies go through Buffer#copy (a plain memmove in C++); small ones, where its argument
// checks cost more than the bytes, go by hand.
const SMALL_COPY = 128;

function copyIn(ring: RingView, position: number, source: Uint8Array): number {
  const { buffer, capacity } = ring;
  const length = source.byteLength;
  if (length <= SMALL_COPY) {
    for (let i = 0; i < length; i++) {
      buffer[position] = source[i]!;
      if (++position === capacity) position = 0;
    }
    return position;
  }
  const from = Buffer.from(source.buffer, source.byteOffset, length);
  const first = Math.min(length, capacity - position);
  from.copy(buffer, position, 0, first);
  if (first < length) from.copy(buffer, 0, first);
  return (position + length) % capacity;
}

function copyOut(ring: RingView, position: number, target: Uint8Array): number {
  const { buffer, capacity } = ring;
  const length = target.byteLength;
  if (length <= SMALL_COPY) {
    for (let i = 0; i < length; i++) {
      target[i] = buffer[position]!;
      if (++position === capacity) position = 0;
    }
    return position;
  }
  const to = Buffer.from(target.buffer, target.byteOffset, length);
  const first = Math.min(length, capacity - position);
  buffer.copy(to, 0, position, position + first);
  if (first < length) buffer.copy(to, first, 0, length - first);
  return (position + length) % capacity;
}

const frameHeader = Buffer.alloc(FRAME_HEADER);
const frameHeaderView = new DataView(frameHeader.buffer);
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

/** Copies one frame in at `tail` (the caller holds the write lock and checked the space). */
function putFrame(ring: RingView, tail: number, tag: number, body: Uint8Array | undefined): number {
  const length = body === undefined ? 0 : body.byteLength;
  frameHeaderView.setUint32(0, length, true);
  frameHeader[4] = tag;
  tail = copyIn(ring, tail, frameHeader);
  if (body !== undefined && length > 0) tail = copyIn(ring, tail, body);
  return tail;
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
  const frame = FRAME_HEADER + (body === undefined ? 0 : body.byteLength);
  lock(header, H_WLOCK);
  try {
    if (Atomics.load(header, H_RECEIVERS) === 0) return WriteResult.NoReceivers;
    if (ring.capacity - Atomics.load(header, H_USED) < frame) return WriteResult.Full;
    Atomics.store(header, H_TAIL, putFrame(ring, Atomics.load(header, H_TAIL), tag, body));
    Atomics.add(header, H_USED, frame);
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
      const size = FRAME_HEADER + (body === undefined ? 0 : body.byteLength);
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

const readHeader = Buffer.alloc(FRAME_HEADER);

/** Reads one frame, or returns undefined when the ring is empty. */
export function tryRead(ring: RingView): Frame | undefined {
  const header = ring.header;
  let frame: Frame;
  lock(header, H_RLOCK);
  try {
    if (Atomics.load(header, H_USED) === 0) return undefined;
    let head = Atomics.load(header, H_HEAD);
    head = copyOut(ring, head, readHeader);
    const length = readHeader.readUInt32LE(0);
    const tag = readHeader[4]!;
    // A fresh copy the caller owns (the ring's bytes are reused as soon as we let go). Small
    // ones get a Uint8Array of their own, large ones skip zero-filling.
    const payload = length <= SMALL_COPY ? new Uint8Array(length) : Buffer.allocUnsafeSlow(length);
    head = copyOut(ring, head, payload);
    Atomics.store(header, H_HEAD, head);
    Atomics.sub(header, H_USED, FRAME_HEADER + length);
    frame = { tag, payload: payload instanceof Buffer ? new Uint8Array(payload.buffer, payload.byteOffset, length) : payload };
  } finally {
    unlock(header, H_RLOCK);
  }
  Atomics.add(header, H_SPACE, 1);
  if (Atomics.load(header, H_WAIT_SEND) > 0) Atomics.notify(header, H_SPACE);
  return frame;
}

/**
 * Small frames read together share one buffer of at most this size (see tryReadMany): Node's
 * own Buffer pool size, so a small value keeps at most as much memory alive as a small Buffer.
 */
const SHARED_SPAN = 8192;

function byteAt(ring: RingView, position: number): number {
  return ring.buffer[position % ring.capacity]!;
}

/**
 * Reads up to `max` frames under one acquisition of the read lock (an empty array when the ring
 * is empty), and wakes a waiting sender once for all of them. (`tryRead` keeps its own path: for
 * one value at a time a view costs more than a small copy of its own.)
 *
 * Small frames are copied out in runs of at most 8 KiB, one copy per run, and their payloads are
 * views of that run's buffer: per value, no allocation of its own and no copy loop. A large
 * frame gets a buffer of its own, so a small value never keeps a large one alive.
 */
export function tryReadMany(ring: RingView, max: number): Frame[] {
  const header = ring.header;
  const frames: Frame[] = [];
  lock(header, H_RLOCK);
  let taken = 0;
  try {
    const used = Atomics.load(header, H_USED);
    if (used === 0) return frames;
    const head = Atomics.load(header, H_HEAD);
    while (taken < used && frames.length < max) {
      taken += readSpan(ring, (head + taken) % ring.capacity, used - taken, max - frames.length, frames);
    }
    Atomics.store(header, H_HEAD, (head + taken) % ring.capacity);
    Atomics.sub(header, H_USED, taken);
  } finally {
    unlock(header, H_RLOCK);
  }
  Atomics.add(header, H_SPACE, 1);
  if (Atomics.load(header, H_WAIT_SEND) > 0) Atomics.notify(header, H_SPACE);
  return frames;
}

/**
 * Reads, from `start`, either one large frame into a buffer of its own or a run of small frames
 * (at most SHARED_SPAN bytes) in one copy, as views of one buffer. Appends to `frames`; returns
 * the bytes taken from the ring. The caller holds the read lock.
 */
function readSpan(ring: RingView, start: number, available: number, max: number, frames: Frame[]): number {
  const lengths: number[] = [];
  const tags: number[] = [];
  let taken = 0;
  while (taken < available && lengths.length < max) {
    const at = start + taken;
    const length = byteAt(ring, at) | (byteAt(ring, at + 1) << 8) | (byteAt(ring, at + 2) << 16) | (byteAt(ring, at + 3) << 24);
    const size = FRAME_HEADER + length;
    if (lengths.length > 0 && (length > SMALL_COPY || taken + size > SHARED_SPAN)) break;
    lengths.push(length);
    tags.push(byteAt(ring, at + 4));
    taken += size;
    if (length > SMALL_COPY) break; // a large frame goes alone
  }
  if (lengths.length === 1 && lengths[0]! > SMALL_COPY) {
    const length = lengths[0]!;
    const payload = Buffer.allocUnsafeSlow(length);
    copyOut(ring, (start + FRAME_HEADER) % ring.capacity, payload);
    frames.push({ tag: tags[0]!, payload: new Uint8Array(payload.buffer, payload.byteOffset, length) });
    return taken;
  }
  const span = new Uint8Array(taken);
  copyOut(ring, start, span);
  let offset = 0;
  for (let i = 0; i < lengths.length; i++) {
    const length = lengths[i]!;
    frames.push({ tag: tags[i]!, payload: span.subarray(offset + FRAME_HEADER, offset + FRAME_HEADER + length) });
    offset += FRAME_HEADER + length;
  }
  return taken;
}
