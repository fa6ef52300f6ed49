/**
 * Shared channels: the memory-channel API across threads, over the ring buffer in
 * `shared/ring.ts`.
 *
 * On any thread, `send` / `receive` are triode waits (cancellable, loss-free: a value is taken
 * out of the ring only by a successful synchronous read, and waiting consumes nothing) that
 * sleep with `Atomics.waitAsync`, so the event loop keeps running. In a worker, `sendSync` /
 * `receiveSync` block the thread with `Atomics.wait`, in short slices so they also notice the
 * worker call's cancellation.
 *
 * An endpoint given as an argument of a worker call arrives in the worker as a live endpoint of
 * the same channel: the caller opens a new endpoint slot for it (so its own endpoint stays
 * open), the worker closes that slot when the call ends, and the caller closes it too once the
 * call has settled — a slot closes once, so whichever comes first counts, and a killed worker's
 * endpoints are closed all the same.
 */
import { isMainThread } from 'node:worker_threads';
import { BrokenResourceError, Cancelled, ClosedResourceError, EndOfChannel, WouldBlock } from '../../shared/errors.js';
import { decode, describeTag, encode, payloadLength, Tag } from '../../shared/codec.js';
import {
  closeEndpoint,
  createRing,
  H_DATA,
  H_RECEIVERS,
  H_SENDERS,
  H_SPACE,
  H_USED,
  H_WAIT_RECV,
  H_WAIT_SEND,
  isEndpointOpen,
  maxPayload,
  MAX_CAPACITY,
  openEndpoint,
  tryRead,
  tryReadInto,
  tryReadMany,
  tryWriteMany,
  type OutgoingFrame,
  tryWrite,
  viewRing,
  WriteResult,
  type EndpointKind,
  type RingView,
} from '../../shared/ring.js';
import { currentCall, isCancelledWord } from '../../shared/worker-call.js';
import { cancelPoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext, type Context } from '../core/context.js';
import { checkInteger, describe } from '../core/validate.js';
import { ParkingLot } from '../sync/parking-lot.js';
import { Closeable } from './closeable.js';

export interface SharedChannelStatistics {
  /** Bytes of frames in the ring now. */
  currentBufferUsed: number;
  /** The ring's size in bytes. */
  capacityBytes: number;
  openSendChannels: number;
  openReceiveChannels: number;
}

/** What an endpoint turns into to cross a thread (see runInWorker). */
export interface SharedChannelWire {
  readonly __triodeSharedChannel: EndpointKind;
  readonly sab: SharedArrayBuffer;
  readonly slot: number;
}

export function isSharedChannelWire(value: unknown): value is SharedChannelWire {
  return typeof value === 'object' && value !== null && '__triodeSharedChannel' in value;
}

/**
 * Before sleeping on a sequence word, watch it for a few microseconds: when the other side is
 * another thread streaming data, the next frame usually lands within that time, and a real
 * sleep-and-wake across threads (tens of µs through the event loop) costs far more than the spin.
 */
const SPIN_NS = 20_000;

function spinUntilChanged(header: Int32Array, index: number, seen: number): boolean {
  const until = process.hrtime.bigint() + BigInt(SPIN_NS);
  do {
    for (let i = 0; i < 64; i++) if (Atomics.load(header, index) !== seen) return true;
  } while (process.hrtime.bigint() < until);
  return false;
}

/** How long `*Sync` waits sleep at a time before looking at the call's cancel word again. */
const SYNC_SLICE_MS = 2;

function checkCallCancelled(): void {
  const call = currentCall();
  if (call !== undefined && isCancelledWord(call.cancelWord)) throw new Cancelled('the calling task was cancelled');
}

/** The `*Sync` methods block their thread: refused on the main thread, which would freeze. */
function checkNotMainThread(what: string, instead: string): void {
  if (isMainThread) throw new Error(`${what} would block the main thread; use ${instead}`);
}

/**
 * The blocking twin of `waitForChange`, for `*Sync` in workers: sleeps until `header[index]` is
 * no longer `seen`, at most one slice, so the caller re-checks its cancel word in between.
 */
function waitSync(header: Int32Array, index: number, counter: number, seen: number): void {
  if (spinUntilChanged(header, index, seen)) return;
  Atomics.add(header, counter, 1);
  Atomics.wait(header, index, seen, SYNC_SLICE_MS);
  Atomics.sub(header, counter, 1);
}

/**
 * This thread's tasks waiting on each ring, by sequence word, each in a ParkingLot. A wake-up
 * from another thread comes through `Atomics.waitAsync`; one from this thread is delivered at
 * once, synchronously,
 * so a run whose tasks talk through a shared channel among themselves wakes as promptly as with
 * a memory channel (and MockClock's autojump never sees such a task as stuck while a wake-up is
 * still in flight).
 */
const lotsByRing = new WeakMap<SharedArrayBuffer, [ParkingLot, ParkingLot]>();

/** This thread's queue of tasks waiting on `index` (H_DATA or H_SPACE) of the ring. */
function localLot(sab: SharedArrayBuffer, index: number): ParkingLot {
  let pair = lotsByRing.get(sab);
  if (pair === undefined) lotsByRing.set(sab, (pair = [new ParkingLot(), new ParkingLot()]));
  return pair[index === H_DATA ? 0 : 1];
}

/** Wakes this thread's waiters on `index` of the ring (they re-check and wait again if need be). */
function wakeLocal(sab: SharedArrayBuffer, index: number): void {
  const lot = lotsByRing.get(sab)?.[index === H_DATA ? 0 : 1];
  if (lot !== undefined && lot.size > 0) lot.unparkAll();
}

/**
 * Waits (in this thread's ParkingLot for the word) until `header[index]` is no longer `seen`, or
 * a task of this thread wakes the lot. Never consumes anything, so a cancelled wait loses nothing.
 */
async function waitForChange(ctx: Context, ring: RingView, index: number, counter: number, seen: number, what: string): Promise<void> {
  const header = ring.header;
  Atomics.add(header, counter, 1);
  try {
    const result = Atomics.waitAsync(header, index, seen);
    if (!result.async) return;
    const lot = localLot(ring.sab, index);
    // A change made by another thread: wake this thread's waiters on the word (they re-check).
    void result.value.then(() => lot.unparkAll());
    try {
      await lot.parkWait(ctx, what).promise;
    } catch (error) {
      // Cancelled: settle our Atomics.waitAsync too, so none outlives the wait (waking other
      // waiters on this word is harmless: they re-check).
      Atomics.notify(header, index);
      throw error;
    }
  } finally {
    Atomics.sub(header, counter, 1);
  }
}

abstract class SharedEndpoint extends Closeable {
  /** @internal */ readonly ring: RingView;
  /** @internal */ readonly slot: number;
  protected abstract readonly kind: EndpointKind;

  /** @internal */
  constructor(ring: RingView, slot: number) {
    super();
    this.ring = ring;
    this.slot = slot;
  }

  protected checkOpen(): void {
    // The slot's state in shared memory is the one truth: another thread may have closed it
    // (the caller closes a worker's slots once its call has settled).
    if (!isEndpointOpen(this.ring, this.slot)) {
      throw new ClosedResourceError(`this shared ${this.kind} channel was closed`);
    }
  }

  /** Closes this endpoint (idempotent, not a checkpoint). Peers blocked on the channel re-check. */
  close(): void {
    if (closeEndpoint(this.ring, this.kind, this.slot)) {
      wakeLocal(this.ring.sab, H_DATA);
      wakeLocal(this.ring.sab, H_SPACE);
    }
  }

  /** @internal a new slot on the same channel, for a worker call argument. */
  toWire(): SharedChannelWire {
    this.checkOpen();
    return { __triodeSharedChannel: this.kind, sab: this.ring.sab, slot: openEndpoint(this.ring, this.kind) };
  }

  statistics(): SharedChannelStatistics {
    const h = this.ring.header;
    return {
      currentBufferUsed: Atomics.load(h, H_USED),
      capacityBytes: this.ring.capacity,
      openSendChannels: Atomics.load(h, H_SENDERS),
      openReceiveChannels: Atomics.load(h, H_RECEIVERS),
    };
  }
}

/** The sending end of a shared channel. Usable on any thread; pass it to a worker call as an argument. */
export class SharedSendChannel<T> extends SharedEndpoint {
  protected readonly kind = 'send';

  /** Encodes `value`, or throws the RangeError of a value that can never fit the ring. */
  private encodeFitting(value: T): ReturnType<typeof encode> {
    const encoded = encode(value);
    const length = payloadLength(encoded);
    if (length > maxPayload(this.ring)) {
      throw new RangeError(
        `shared channel: a value of ${length} bytes does not fit a ring of ${this.ring.capacity} bytes ` +
          `(at most ${maxPayload(this.ring)} bytes of payload); open the channel with a larger capacityBytes`,
      );
    }
    return encoded;
  }

  /** Writes `value` if it fits; true when written. Throws for a closed or broken channel. */
  private trySend(value: T): boolean {
    this.checkOpen();
    const encoded = this.encodeFitting(value);
    const result = tryWrite(this.ring, encoded.tag, encoded.bytes, encoded.tag === Tag.Number ? encoded.number : undefined);
    if (result === WriteResult.NoReceivers) throw new BrokenResourceError('every receive channel was closed');
    if (result !== WriteResult.Written) return false;
    wakeLocal(this.ring.sab, H_DATA);
    return true;
  }

  /** Sends without waiting; `WouldBlock` when the ring is full. Not a checkpoint. */
  sendNowait(value: T): void {
    if (!this.trySend(value)) throw new WouldBlock('the shared channel is full');
  }

  /**
   * Sends `value`, waiting while the ring is full (backpressure). A checkpoint; cancelled: the
   * value was not sent.
   */
  async send(value: T): Promise<void> {
    const ctx = currentContext('SharedSendChannel.send');
    for (;;) {
      cancelPoint(ctx);
      const seen = Atomics.load(this.ring.header, H_SPACE);
      if (this.trySend(value)) {
        const macrotask = schedulePoint(ctx);
        if (macrotask !== undefined) await macrotask;
        return;
      }
      if (spinUntilChanged(this.ring.header, H_SPACE, seen)) continue;
      await waitForChange(ctx, this.ring, H_SPACE, H_WAIT_SEND, seen, 'SharedSendChannel.send');
    }
  }

  /** In a worker: sends, blocking the thread while the ring is full. Throws `Cancelled` when the call is cancelled. */
  sendSync(value: T): void {
    checkNotMainThread('SharedSendChannel.sendSync', 'await send()');
    const header = this.ring.header;
    for (;;) {
      checkCallCancelled();
      const seen = Atomics.load(header, H_SPACE);
      if (this.trySend(value)) return;
      waitSync(header, H_SPACE, H_WAIT_SEND, seen);
    }
  }

  /**
   * In a worker: sends every value of `values`, in order, writing as many as fit per lock and
   * per wake-up of the receiver, and blocking the thread while the ring is full. Throws
   * `Cancelled` when the call is cancelled: the values before that point were sent.
   */
  sendBatchSync(values: readonly T[]): void {
    checkNotMainThread('SharedSendChannel.sendBatchSync', 'await send()');
    if (!Array.isArray(values)) throw new TypeError(`SharedSendChannel.sendBatchSync: values must be an array, got ${describe(values)}`);
    this.checkOpen();
    const frames: OutgoingFrame[] = values.map((value) => {
      const { tag, bytes, number } = this.encodeFitting(value);
      return { tag, payload: bytes, number: tag === Tag.Number ? number : undefined };
    });
    const header = this.ring.header;
    let sent = 0;
    while (sent < frames.length) {
      checkCallCancelled();
      this.checkOpen();
      const seen = Atomics.load(header, H_SPACE);
      const written = tryWriteMany(this.ring, frames, sent);
      if (written < 0) throw new BrokenResourceError('every receive channel was closed');
      sent += written;
      if (written > 0) {
        wakeLocal(this.ring.sab, H_DATA);
        continue;
      }
      waitSync(header, H_SPACE, H_WAIT_SEND, seen);
    }
  }

  /** Another send endpoint of the same channel. */
  clone(): SharedSendChannel<T> {
    this.checkOpen();
    return new SharedSendChannel<T>(this.ring, openEndpoint(this.ring, 'send'));
  }
}

/** Refuses, before anything is taken, a frame that `receiveInto(target)` cannot take. */
function bytesFitting(what: string, target: Uint8Array): (tag: number, length: number) => void {
  return (tag, length) => {
    if (tag !== Tag.Uint8Array && tag !== Tag.ArrayBuffer) {
      throw new TypeError(`${what}: the next value is ${describeTag(tag)}, not bytes; take it with receive()`);
    }
    if (length > target.byteLength) {
      throw new RangeError(`${what}: the next value has ${length} bytes, more than the ${target.byteLength} of target; nothing was taken`);
    }
  };
}

function checkTarget(what: string, target: unknown): asserts target is Uint8Array {
  if (!(target instanceof Uint8Array)) throw new TypeError(`${what}: target must be a Uint8Array (or Buffer), got ${describe(target)}`);
}

/** What a read returns when the ring is empty (undefined is a value a channel can carry). */
const EMPTY: unique symbol = Symbol('empty');
type Read<R> = () => R | typeof EMPTY;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/** The receiving end of a shared channel; `for await` receives until EndOfChannel. */
export class SharedReceiveChannel<T> extends SharedEndpoint implements AsyncIterable<T> {
  protected readonly kind = 'receive';

  /**
   * One attempt of every receive: `read()` under this endpoint's rules. EMPTY when the ring is
   * empty; EndOfChannel when it is empty and every sender has closed.
   */
  private attempt<R>(read: Read<R>): R | typeof EMPTY {
    this.checkOpen();
    let got = read();
    // Empty with no sender left: a sender may have written and closed between our read and
    // the check, so read once more before calling it the end.
    if (got === EMPTY && Atomics.load(this.ring.header, H_SENDERS) === 0) {
      got = read();
      if (got === EMPTY) throw new EndOfChannel('every send channel was closed');
    }
    if (got !== EMPTY) wakeLocal(this.ring.sab, H_SPACE);
    return got;
  }

  /**
   * The one wait of every async receive: `attempt(read)` until it takes something, sleeping
   * (cancellably, consuming nothing) while the ring is empty. A checkpoint. With `atEnd`,
   * EndOfChannel returns `atEnd` instead of throwing (for iteration, without a second async
   * layer per value).
   */
  private async receiveWith<R>(what: string, read: Read<R>, atEnd?: R): Promise<R> {
    const ctx = currentContext(what);
    for (;;) {
      cancelPoint(ctx);
      const seen = Atomics.load(this.ring.header, H_DATA);
      let got: R | typeof EMPTY;
      try {
        got = this.attempt(read);
      } catch (error) {
        if (atEnd !== undefined && error instanceof EndOfChannel) return atEnd;
        throw error;
      }
      if (got !== EMPTY) {
        const macrotask = schedulePoint(ctx);
        if (macrotask !== undefined) await macrotask;
        return got;
      }
      if (spinUntilChanged(this.ring.header, H_DATA, seen)) continue;
      await waitForChange(ctx, this.ring, H_DATA, H_WAIT_RECV, seen, what);
    }
  }

  /** The blocking twin of receiveWith, for `*Sync` in workers (sees the call cancelled within one 2 ms slice). */
  private receiveSyncWith<R>(what: string, read: Read<R>): R {
    checkNotMainThread(what, 'await receive()');
    const header = this.ring.header;
    for (;;) {
      checkCallCancelled();
      const seen = Atomics.load(header, H_DATA);
      const got = this.attempt(read);
      if (got !== EMPTY) return got;
      waitSync(header, H_DATA, H_WAIT_RECV, seen);
    }
  }

  private readonly readOne: Read<T> = () => {
    const frame = tryRead(this.ring);
    return frame === undefined ? EMPTY : (decode(frame.tag, frame.payload) as T);
  };

  private readonly readResult: Read<IteratorResult<T, undefined>> = () => {
    const frame = tryRead(this.ring);
    return frame === undefined ? EMPTY : { value: decode(frame.tag, frame.payload) as T, done: false };
  };

  private readMany(maxCount: number): T[] | typeof EMPTY {
    const payloads: Uint8Array[] = [];
    const tags: number[] = [];
    const count = tryReadMany(this.ring, maxCount, payloads, tags);
    if (count === 0) return EMPTY;
    const values = new Array<T>(count);
    for (let i = 0; i < count; i++) values[i] = decode(tags[i]!, payloads[i]!) as T;
    return values;
  }

  private readInto(target: Uint8Array, accept: (tag: number, length: number) => void): number | typeof EMPTY {
    const length = tryReadInto(this.ring, target, accept);
    return length < 0 ? EMPTY : length;
  }

  /** Receives without waiting; `WouldBlock` when empty, `EndOfChannel` when drained and every sender closed. */
  receiveNowait(): T {
    const got = this.attempt(this.readOne);
    if (got === EMPTY) throw new WouldBlock('the shared channel is empty');
    return got;
  }

  /** Receives the next value, waiting until there is one. A checkpoint; cancelled: nothing was taken. */
  receive(): Promise<T> {
    return this.receiveWith('SharedReceiveChannel.receive', this.readOne);
  }

  /**
   * Receives every value available now, up to `maxCount` (default 1,024), waiting until there
   * is at least one: one lock, one wake-up and one async step for the lot, for many small values.
   * A checkpoint; cancelled: nothing was taken. `EndOfChannel` once drained with every sender
   * closed.
   */
  async receiveBatch(maxCount = 1024): Promise<T[]> {
    checkInteger('SharedReceiveChannel.receiveBatch', 'maxCount', maxCount, 1);
    return this.receiveWith('SharedReceiveChannel.receiveBatch', () => this.readMany(maxCount));
  }

  /**
   * Receives the next value, which must be bytes (a `Uint8Array` or `ArrayBuffer` was sent),
   * by copying it into `target`; returns its length. No buffer is allocated: for streaming large
   * chunks, receive each into the same buffer. A checkpoint; cancelled: nothing was taken. A next
   * value that is not bytes (TypeError) or is longer than `target` (RangeError) is refused and
   * left in the channel.
   */
  async receiveInto(target: Uint8Array): Promise<number> {
    const what = 'SharedReceiveChannel.receiveInto';
    checkTarget(what, target);
    const accept = bytesFitting(what, target);
    return this.receiveWith(what, () => this.readInto(target, accept));
  }

  /** In a worker: receives, blocking the thread until a value arrives. Throws `Cancelled` when the call is cancelled. */
  receiveSync(): T {
    return this.receiveSyncWith('SharedReceiveChannel.receiveSync', this.readOne);
  }

  /** In a worker: `receiveInto`, blocking the thread until a value arrives. */
  receiveIntoSync(target: Uint8Array): number {
    const what = 'SharedReceiveChannel.receiveIntoSync';
    checkTarget(what, target);
    const accept = bytesFitting(what, target);
    return this.receiveSyncWith(what, () => this.readInto(target, accept));
  }

  /** Another receive endpoint of the same channel. */
  clone(): SharedReceiveChannel<T> {
    this.checkOpen();
    return new SharedReceiveChannel<T>(this.ring, openEndpoint(this.ring, 'receive'));
  }

  /** `receive()` reporting EndOfChannel as the end of iteration, in one async step per value. */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return { next: () => this.receiveWith('SharedReceiveChannel iteration', this.readResult, DONE) };
  }

  /** In a worker: iterate with receiveSync until EndOfChannel. */
  *syncIterator(): Generator<T, void, undefined> {
    for (;;) {
      let value: T;
      try {
        value = this.receiveSync();
      } catch (error) {
        if (error instanceof EndOfChannel) return;
        throw error;
      }
      yield value;
    }
  }
}

export function isSharedEndpoint(value: unknown): value is SharedSendChannel<unknown> | SharedReceiveChannel<unknown> {
  return value instanceof SharedEndpoint;
}

/** @internal closes the slot a wire form opened (once, whichever thread comes first). */
export function closeWire(wire: SharedChannelWire): void {
  closeEndpoint(viewRing(wire.sab), wire.__triodeSharedChannel, wire.slot);
}

/** @internal rebuilds an endpoint that crossed a thread as a call argument. */
export function endpointFromWire(wire: SharedChannelWire): SharedSendChannel<unknown> | SharedReceiveChannel<unknown> {
  const ring = viewRing(wire.sab);
  return wire.__triodeSharedChannel === 'send' ? new SharedSendChannel(ring, wire.slot) : new SharedReceiveChannel(ring, wire.slot);
}

export interface SharedChannelOptions {
  /**
   * Size of the ring in bytes (16 to 2^30; rounded up to a multiple of 8). A value, with 8 bytes
   * of framing and padded to a multiple of 8, must fit in it.
   */
  capacityBytes: number;
}

/**
 * Opens a channel whose endpoints work on any thread: pass them to worker calls as arguments.
 * `send` waits while the ring is full, so backpressure holds across threads.
 *
 * ```ts
 * const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: 1 << 20 });
 * await openNursery(async (n) => {
 *   // The worker gets its own endpoint; use() closes ours when the call is over.
 *   n.startSoon(() => tx.use(() => runInWorker(producerModule, 'produce', [tx])));
 *   for await (const chunk of rx) handle(chunk); // ends when the producer is done
 * });
 * ```
 */
export function openSharedChannel<T>(options: SharedChannelOptions): [SharedSendChannel<T>, SharedReceiveChannel<T>] {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`openSharedChannel: options must be an object, got ${describe(options)}`);
  }
  const { capacityBytes } = options;
  checkInteger('openSharedChannel', 'capacityBytes', capacityBytes, 16);
  if (capacityBytes > MAX_CAPACITY) {
    throw new RangeError(`openSharedChannel: capacityBytes must be at most ${MAX_CAPACITY} (1 GiB), got ${capacityBytes}`);
  }
  const ring = viewRing(createRing(capacityBytes));
  return [new SharedSendChannel<T>(ring, openEndpoint(ring, 'send')), new SharedReceiveChannel<T>(ring, openEndpoint(ring, 'receive'))];
}
