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
import { decode, decodeKeepsPayload, describeTag, encode, payloadLength, Tag } from '../../shared/codec.js';
import { lockReleased } from '../../shared/owned-lock.js';
import {
  anyEndpoint,
  BUSY,
  closeEndpoint,
  countEndpoints,
  createRing,
  H_DATA,
  H_RLOCK,
  H_SPACE,
  H_WAIT_RECV,
  H_WAIT_SEND,
  H_WAIT_SEND_LAZY,
  H_WLOCK,
  frameSize,
  isEndpointOpen,
  lazyFree,
  LookAhead,
  maxPayload,
  readAhead,
  takeAhead,
  MAX_CAPACITY,
  openEndpoint,
  readFrames,
  readInto,
  tryWrite,
  tryWriteMany,
  usedBytes,
  viewRing,
  WriteResult,
  type EndpointKind,
  type EndpointSlot,
  type OutgoingFrame,
  type RingView,
} from '../../shared/ring.js';
import { callCancelled, currentCall, isCancelledWord } from '../../shared/worker-call.js';
import { cancelPoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import { checkInteger, describe, checkOptions } from '../core/validate.js';
import { Closeable } from './closeable.js';
import { ringWaiter, type RingWaiter } from './ring-waiter.js';

export interface SharedChannelStatistics {
  /** Bytes of frames in the ring now. */
  currentBufferUsed: number;
  /** The ring's size in bytes (the most `currentBufferUsed` can be). */
  maxBufferSize: number;
  /** The ring's size in bytes. */
  capacityBytes: number;
  /** Open send endpoints, on every thread. */
  openSendChannels: number;
  /** Open receive endpoints, on every thread. */
  openReceiveChannels: number;
  /** Tasks of this thread waiting in `send`. */
  tasksWaitingSend: number;
  /** Tasks of this thread waiting in `receive` (and its variants). */
  tasksWaitingReceive: number;
}

/** What an endpoint turns into to cross a thread (see runInWorker). */
export interface SharedChannelWire {
  readonly __triodeSharedChannel: EndpointKind;
  readonly sab: SharedArrayBuffer;
  readonly slot: number;
  readonly word: number;
}

export function isSharedChannelWire(value: unknown): value is SharedChannelWire {
  return typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, '__triodeSharedChannel');
}

/**
 * In a worker, before sleeping on a sequence word, watch it for a few microseconds: when the
 * other side is another thread streaming data, the next frame usually lands within that time. The
 * main thread never spins on another thread (it would stall every other task).
 */
const SPIN_NS = 20_000;

function spinUntilChanged(header: Int32Array, index: number, seen: number): boolean {
  return spinUntil(() => Atomics.load(header, index) !== seen);
}

/** Watches `condition` for SPIN_NS (never on the main thread): whether it came true. */
function spinUntil(condition: () => boolean): boolean {
  if (isMainThread) return false;
  const until = process.hrtime.bigint() + BigInt(SPIN_NS);
  do {
    for (let i = 0; i < 32; i++) if (condition()) return true;
  } while (process.hrtime.bigint() < until);
  return false;
}

/** How long `*Sync` waits sleep at a time before looking at the call's cancel word again. */
const SYNC_SLICE_MS = 2;

function checkCallCancelled(): void {
  const call = currentCall();
  if (call !== undefined && isCancelledWord(call.cancelWord)) throw callCancelled();
}

/** The `*Sync` methods block their thread: refused on the main thread, which would freeze. */
function checkNotMainThread(what: string, instead: string): void {
  if (isMainThread) throw new Error(`${what} would block the main thread; use ${instead}`);
}

/**
 * The blocking twin of a RingWaiter, for `*Sync` in workers: sleeps until `header[index]` is no
 * longer `seen`, at most one slice, so the caller re-checks its cancel word in between.
 */
function waitSync(header: Int32Array, index: number, counter: number, seen: number): void {
  if (spinUntilChanged(header, index, seen)) return;
  Atomics.add(header, counter, 1);
  Atomics.wait(header, index, seen, SYNC_SLICE_MS);
  Atomics.sub(header, counter, 1);
}

/**
 * In a worker, a sender blocked on a full ring: waits until half the ring is free, or a frame of
 * `size` bytes fits if that needs more — a lazy sender (see ring.ts), woken once per burst
 * instead of once per value the consumer takes. At most one slice, so the caller writes what fits
 * and checks its cancel word at least that often.
 */
function waitSpaceSync(ring: RingView, size: number): void {
  const header = ring.header;
  const want = lazyFree(ring, size);
  const enough = () => ring.capacity - usedBytes(ring) >= want;
  const until = performance.now() + SYNC_SLICE_MS;
  if (spinUntil(enough)) return;
  for (;;) {
    const seen = Atomics.load(header, H_SPACE);
    if (enough()) return;
    const left = until - performance.now();
    if (left <= 0) return;
    Atomics.add(header, H_WAIT_SEND_LAZY, 1);
    Atomics.wait(header, H_SPACE, seen, left);
    Atomics.sub(header, H_WAIT_SEND_LAZY, 1);
  }
}

abstract class SharedEndpoint extends Closeable {
  /** @internal */ readonly ring: RingView;
  /** @internal */ readonly endpoint: EndpointSlot;
  protected abstract readonly kind: EndpointKind;

  /**
   * This thread's waiters on the ring's DATA and SPACE words (shared by its endpoints of the
   * ring: see ring-waiter.ts). Private, so that no declaration file names their type.
   */
  private readonly dataWaiter: RingWaiter;
  private readonly spaceWaiter: RingWaiter;

  /** @internal */
  constructor(ring: RingView, endpoint: EndpointSlot) {
    super();
    this.ring = ring;
    this.endpoint = endpoint;
    this.dataWaiter = ringWaiter(ring.sab, ring.header, H_DATA, H_WAIT_RECV);
    this.spaceWaiter = ringWaiter(ring.sab, ring.header, H_SPACE, H_WAIT_SEND);
  }

  /** Wakes one of this thread's tasks waiting to receive: a value was sent from here. */
  protected passOnData(): void {
    this.dataWaiter.passOn();
  }

  /** Wakes one of this thread's tasks waiting to send: a value was taken here. */
  protected passOnSpace(): void {
    this.spaceWaiter.passOn();
  }

  protected checkOpen(): void {
    // The slot in shared memory is the one truth: another thread may have closed it (the caller
    // closes a worker's slots once its call has settled).
    if (!isEndpointOpen(this.ring, this.endpoint)) {
      throw new ClosedResourceError(`this shared ${this.kind} channel was closed`);
    }
  }

  /** Closes this endpoint (idempotent, not a checkpoint). Peers blocked on the channel, on any thread, look again. */
  close(): void {
    if (closeEndpoint(this.ring, this.endpoint)) {
      this.dataWaiter.wakeAll();
      this.spaceWaiter.wakeAll();
    }
  }

  /** @internal a new slot on the same channel, for a worker call argument. */
  toWire(): SharedChannelWire {
    this.checkOpen();
    const { slot, word } = openEndpoint(this.ring, this.kind);
    return { __triodeSharedChannel: this.kind, sab: this.ring.sab, slot, word };
  }

  /** Counts and sizes, as a memory channel's `statistics()`, plus `capacityBytes`. Not a checkpoint. */
  statistics(): SharedChannelStatistics {
    const ring = this.ring;
    return {
      currentBufferUsed: usedBytes(ring),
      maxBufferSize: ring.capacity,
      capacityBytes: ring.capacity,
      openSendChannels: countEndpoints(ring, 'send'),
      openReceiveChannels: countEndpoints(ring, 'receive'),
      tasksWaitingSend: this.spaceWaiter.lot.size,
      tasksWaitingReceive: this.dataWaiter.lot.size,
    };
  }

  /**
   * The one wait loop of every async operation: `attempt()` until it gives something other than
   * EMPTY, sleeping (cancellably, consuming nothing) on `index` while it is EMPTY, and briefly on
   * the lock while another thread holds it. A checkpoint. A value taken ends the wait with a
   * schedule point; the wake-up is passed on to this thread's next waiter when there may be more
   * for it (see ring-waiter.ts).
   */
  protected async waitWith<R>(what: string, index: number, attempt: () => R | typeof EMPTY | typeof BUSY_): Promise<R> {
    const ctx = currentContext(what);
    const waiter = index === H_DATA ? this.dataWaiter : this.spaceWaiter;
    let woken = false;
    try {
      for (;;) {
        cancelPoint(ctx);
        const seen = Atomics.load(this.ring.header, index);
        const got = attempt();
        if (got === BUSY_) {
          // The main thread found the lock held by another thread: wait for it without spinning.
          await lockReleased(this.ring.header, index === H_DATA ? H_RLOCK : H_WLOCK);
          continue;
        }
        if (got !== EMPTY) {
          if (woken && this.morePending(index)) waiter.passOn();
          woken = false;
          const macrotask = schedulePoint(ctx);
          if (macrotask !== undefined) await macrotask;
          return got as R;
        }
        if (spinUntilChanged(this.ring.header, index, seen)) continue;
        woken = false;
        await waiter.wait(ctx, seen, what);
        woken = true;
      }
    } catch (error) {
      // An error the others meet too (closed, broken, end of channel), or a cancellation after a
      // wake-up: the next waiter must look for itself.
      if (woken || !(error instanceof Cancelled)) waiter.passOn();
      throw error;
    }
  }

  /** Whether a waiter on `index` may find something now (frames to read, or space to write). */
  private morePending(index: number): boolean {
    const used = usedBytes(this.ring);
    return index === H_DATA ? used > 0 : used < this.ring.capacity;
  }
}

/** What an attempt returns when the ring is empty or full (undefined is a value a channel can carry). */
const EMPTY: unique symbol = Symbol('empty');
/** What an attempt returns on the main thread when another thread holds the lock. */
const BUSY_: unique symbol = Symbol('busy');

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

  /** Writes `value` if it fits: true, EMPTY when full, BUSY_ (main thread) when the lock is held. */
  private trySend(value: T): true | typeof EMPTY | typeof BUSY_ {
    this.checkOpen();
    return this.tryWriteEncoded(this.encodeFitting(value));
  }

  /** trySend's second half, for a value encoded already. */
  private tryWriteEncoded(encoded: ReturnType<typeof encode>): true | typeof EMPTY | typeof BUSY_ {
    const result = tryWrite(this.ring, encoded.tag, encoded.bytes);
    if (result === WriteResult.Written) {
      this.passOnData();
      return true;
    }
    if (result === WriteResult.NoReceivers) throw new BrokenResourceError('every receive channel was closed');
    return result === WriteResult.Busy ? BUSY_ : EMPTY;
  }

  /**
   * Sends without waiting; `WouldBlock` when the ring is full (or, on the main thread, when
   * another thread is writing to it at this instant). Not a checkpoint.
   */
  sendNowait(value: T): void {
    if (this.trySend(value) !== true) throw new WouldBlock('the shared channel is full');
  }

  /**
   * Sends `value`, waiting while the ring is full (backpressure). A checkpoint; cancelled: the
   * value was not sent.
   */
  async send(value: T): Promise<void> {
    await this.waitWith('SharedSendChannel.send', H_SPACE, () => this.trySend(value));
  }

  /** In a worker: sends, blocking the thread while the ring is full. Throws `Cancelled` when the call is cancelled. */
  sendSync(value: T): void {
    checkNotMainThread('SharedSendChannel.sendSync', 'await send()');
    checkCallCancelled();
    this.checkOpen();
    const encoded = this.encodeFitting(value);
    const size = frameSize(payloadLength(encoded));
    for (;;) {
      if (this.tryWriteEncoded(encoded) === true) return;
      waitSpaceSync(this.ring, size);
      checkCallCancelled();
      this.checkOpen();
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
      const { tag, bytes } = this.encodeFitting(value);
      // A number's bytes are the encoder's scratch: each frame needs its own.
      return { tag, payload: tag === Tag.Number ? bytes!.slice() : bytes };
    });
    let sent = 0;
    while (sent < frames.length) {
      checkCallCancelled();
      this.checkOpen();
      const written = tryWriteMany(this.ring, frames, sent);
      if (written === -1) throw new BrokenResourceError('every receive channel was closed');
      if (written > 0) {
        sent += written;
        this.passOnData();
        continue;
      }
      const { payload } = frames[sent]!;
      waitSpaceSync(this.ring, frameSize(payload === undefined ? 0 : payload.byteLength));
    }
  }

  /**
   * @internal sends as many of `values` as fit now, in order, under one lock and with one
   * wake-up of the receivers; returns how many (0 when the ring is full, or, on the main thread,
   * when another thread is writing at this instant). Not a checkpoint. (mapInWorkers' feeder.)
   */
  sendManyNowait(values: readonly T[]): number {
    this.checkOpen();
    const frames: OutgoingFrame[] = values.map((value) => {
      const { tag, bytes } = this.encodeFitting(value);
      return { tag, payload: tag === Tag.Number ? bytes!.slice() : bytes };
    });
    const written = tryWriteMany(this.ring, frames, 0);
    if (written === -1) throw new BrokenResourceError('every receive channel was closed');
    if (written <= 0) return 0;
    this.passOnData();
    return written;
  }

  /** Another send endpoint of the same channel. */
  clone(): SharedSendChannel<T> {
    this.checkOpen();
    return new SharedSendChannel<T>(this.ring, openEndpoint(this.ring, 'send'));
  }
}

/** Refuses, before anything is taken, a frame that `receiveInto(target)` cannot take. */
function bytesFitting(what: string, target: Uint8Array): (tag: number, length: number) => Error | undefined {
  return (tag, length) => {
    if (tag !== Tag.Uint8Array && tag !== Tag.ArrayBuffer) {
      return new TypeError(`${what}: the next value is ${describeTag(tag)}, not bytes; take it with receive()`);
    }
    if (length > target.byteLength) {
      return new RangeError(`${what}: the next value has ${length} bytes, more than the ${target.byteLength} of target; nothing was taken`);
    }
    return undefined;
  };
}

function checkTarget(what: string, target: unknown): asserts target is Uint8Array {
  if (!(target instanceof Uint8Array)) throw new TypeError(`${what}: target must be a Uint8Array (or Buffer), got ${describe(target)}`);
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/** The receiving end of a shared channel; `for await` receives until EndOfChannel. */
export class SharedReceiveChannel<T> extends SharedEndpoint implements AsyncIterable<T> {
  protected readonly kind = 'receive';

  /**
   * One attempt of every receive: `read()` under this endpoint's rules. EMPTY when the ring is
   * empty; EndOfChannel when it is empty and every sender has closed.
   */
  private attempt<R>(read: () => R | typeof EMPTY | typeof BUSY_): R | typeof EMPTY | typeof BUSY_ {
    this.checkOpen();
    let got = read();
    // Empty with no sender left: a sender may have written and closed between our read and
    // the check, so read once more before calling it the end.
    if (got === EMPTY && !anyEndpoint(this.ring, 'send')) {
      got = read();
      if (got === EMPTY) throw new EndOfChannel('every send channel was closed');
    }
    if (got !== EMPTY && got !== BUSY_) this.passOnSpace();
    return got;
  }

  /** The blocking twin of waitWith, for `*Sync` in workers (sees the call cancelled within one 2 ms slice). */
  private receiveSyncWith<R>(what: string, read: () => R | typeof EMPTY | typeof BUSY_): R {
    checkNotMainThread(what, 'await receive()');
    const header = this.ring.header;
    for (;;) {
      checkCallCancelled();
      const seen = Atomics.load(header, H_DATA);
      const got = this.attempt(read);
      if (got !== EMPTY && got !== BUSY_) return got;
      waitSync(header, H_DATA, H_WAIT_RECV, seen);
    }
  }

  /**
   * Up to `max` values, decoded after the lock is let go (a value that fails to decode fails this
   * receive only), from borrowed views of the frames, copied only for values that keep their bytes.
   */
  private readValues(max: number): T[] | typeof EMPTY | typeof BUSY_ {
    this.ahead.drop(); // (its frames are still in the ring, first in line)
    const values: T[] = [];
    const count = readFrames(
      this.ring,
      max,
      (tag, payload, own) => values.push(decode(tag, own || !decodeKeepsPayload(tag) ? payload : payload.slice()) as T),
      undefined,
      true,
    );
    if (count === BUSY) return BUSY_;
    return count === 0 ? EMPTY : values;
  }

  /** Frames looked at past the last one taken, for the next values taken one at a time (see LookAhead in ring.ts). */
  private readonly ahead = new LookAhead();
  /** How many frames the next look-ahead covers: doubled while look-aheads are used up, back to 2 when one goes stale. */
  private aheadFrames = 2;

  /** The value of the look-ahead's frame `index` (decoded from a view of it, unless the value keeps its bytes). */
  private decodeAhead(index: number): T {
    const tag = this.ahead.tags[index]!;
    return decode(tag, this.ahead.payload(index, decodeKeepsPayload(tag))) as T;
  }

  private readonly readOne = (): T | typeof EMPTY | typeof BUSY_ => {
    const ahead = this.ahead;
    if (ahead.pending) {
      const index = takeAhead(this.ring, ahead);
      if (index === BUSY) return BUSY_;
      if (index >= 0) return this.decodeAhead(index);
      this.aheadFrames = 2; // another reader took frames meanwhile
    } else if (ahead.count > 1) {
      this.aheadFrames = Math.min(this.aheadFrames * 2, 64);
    }
    const got = readAhead(this.ring, ahead, this.aheadFrames);
    if (got === BUSY) return BUSY_;
    if (got === 0) return EMPTY;
    if (got === 1) return this.decodeAhead(0);
    // A frame too large to look at: read alone.
    let tag = 0;
    let payload: Uint8Array | undefined;
    const count = readFrames(this.ring, 1, (t, p) => {
      tag = t;
      payload = p;
    });
    if (count === BUSY) return BUSY_;
    return count === 0 ? EMPTY : (decode(tag, payload!) as T);
  };

  private readonly readResult = (): IteratorResult<T, undefined> | typeof EMPTY | typeof BUSY_ => {
    const value: unknown = this.readOne();
    if (value === EMPTY) return EMPTY;
    if (value === BUSY_) return BUSY_;
    return { value: value as T, done: false };
  };

  private readInto(target: Uint8Array, refuse: (tag: number, length: number) => Error | undefined): number | typeof EMPTY | typeof BUSY_ {
    this.ahead.drop();
    const length = readInto(this.ring, target, refuse);
    return length === BUSY ? BUSY_ : length < 0 ? EMPTY : length;
  }

  /**
   * Receives without waiting; `WouldBlock` when empty (or, on the main thread, when another
   * thread is reading at this instant), `EndOfChannel` when drained and every sender closed.
   */
  receiveNowait(): T {
    const got = this.attempt(this.readOne);
    if (got === EMPTY || got === BUSY_) throw new WouldBlock('the shared channel is empty');
    return got;
  }

  /** Receives the next value, waiting until there is one. A checkpoint; cancelled: nothing was taken. */
  receive(): Promise<T> {
    return this.waitWith('SharedReceiveChannel.receive', H_DATA, () => this.attempt(this.readOne));
  }

  /**
   * Receives every value available now, up to `maxCount` (default 1,024), waiting until there
   * is at least one: one lock, one wake-up and one async step for the lot, for many small values.
   * Each value is its own (no two share an ArrayBuffer). A checkpoint; cancelled: nothing was
   * taken. `EndOfChannel` once drained with every sender closed.
   */
  async receiveBatch(maxCount = 1024): Promise<T[]> {
    checkInteger('SharedReceiveChannel.receiveBatch', 'maxCount', maxCount, 1);
    return this.waitWith('SharedReceiveChannel.receiveBatch', H_DATA, () => this.attempt(() => this.readValues(maxCount)));
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
    const refuse = bytesFitting(what, target);
    return this.waitWith(what, H_DATA, () => this.attempt(() => this.readInto(target, refuse)));
  }

  /** In a worker: receives, blocking the thread until a value arrives. Throws `Cancelled` when the call is cancelled. */
  receiveSync(): T {
    return this.receiveSyncWith('SharedReceiveChannel.receiveSync', this.readOne);
  }

  /** In a worker: `receiveInto`, blocking the thread until a value arrives. */
  receiveIntoSync(target: Uint8Array): number {
    const what = 'SharedReceiveChannel.receiveIntoSync';
    checkTarget(what, target);
    const refuse = bytesFitting(what, target);
    return this.receiveSyncWith(what, () => this.readInto(target, refuse));
  }

  /** Another receive endpoint of the same channel. */
  clone(): SharedReceiveChannel<T> {
    this.checkOpen();
    return new SharedReceiveChannel<T>(this.ring, openEndpoint(this.ring, 'receive'));
  }

  /** `receive()` reporting EndOfChannel as the end of iteration, in one async step per value. */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    const next = () => this.attemptResult();
    return {
      next: () =>
        this.waitWith('SharedReceiveChannel iteration', H_DATA, next),
    };
  }

  /** One attempt for iteration: EndOfChannel becomes the end. */
  private attemptResult(): IteratorResult<T, undefined> | typeof EMPTY | typeof BUSY_ {
    try {
      return this.attempt(this.readResult);
    } catch (error) {
      if (error instanceof EndOfChannel) return DONE;
      throw error;
    }
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
  closeEndpoint(viewRing(wire.sab), wire);
}

/**
 * @internal rebuilds an endpoint that crossed a thread as a call argument. The wire came from
 * another thread: its shape is checked, and a forged one is a TypeError.
 */
export function endpointFromWire(wire: SharedChannelWire): SharedSendChannel<unknown> | SharedReceiveChannel<unknown> {
  const { __triodeSharedChannel: kind, sab, slot, word } = wire;
  if ((kind !== 'send' && kind !== 'receive') || !Number.isInteger(slot) || !Number.isInteger(word)) {
    throw new TypeError('shared channel: a malformed endpoint crossed threads');
  }
  const ring = viewRing(sab);
  return kind === 'send' ? new SharedSendChannel(ring, { slot, word }) : new SharedReceiveChannel(ring, { slot, word });
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
  checkOptions('openSharedChannel', options);
  const { capacityBytes } = options;
  checkInteger('openSharedChannel', 'capacityBytes', capacityBytes, 16);
  if (capacityBytes > MAX_CAPACITY) {
    throw new RangeError(`openSharedChannel: capacityBytes must be at most ${MAX_CAPACITY} (1 GiB), got ${capacityBytes}`);
  }
  const ring = viewRing(createRing(capacityBytes));
  return [new SharedSendChannel<T>(ring, openEndpoint(ring, 'send')), new SharedReceiveChannel<T>(ring, openEndpoint(ring, 'receive'))];
}
