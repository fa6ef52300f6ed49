/**
 * In-memory streams for testing protocol code without sockets (Trio's memory streams).
 *
 * `memoryStreamOneWayPair()` gives a `MemorySendStream` and a `MemoryReceiveStream` joined by an
 * unbounded buffer; `memoryStreamPair()` staples two of those into a two-way pair;
 * `lockstepStreamPair()` has no buffer at all: `sendAll` returns only when the peer has received
 * every byte, which flushes out protocol code that accidentally relies on buffering. The
 * `MemorySendStream`/`MemoryReceiveStream` classes take hooks, so a test can decide by hand when
 * data moves (`getData`, `putData`, `memoryStreamPump`).
 */
import { BrokenResourceError, ClosedResourceError, WouldBlock } from '../../shared/errors.js';
import { cancelPoint, checkpoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import { ParkingLot } from '../sync/parking-lot.js';
import type { ReceiveStream, SendStream } from '../streams/abc.js';
import { ConflictDetector } from '../sync/conflict-detector.js';
import { checkData, checkMaxBytes, receiveChunks } from '../streams/receive-chunks.js';
import { StapledStream } from '../streams/stapled-stream.js';

type Hook = () => Promise<void> | void;

/** `maxBytes` of `getData`: undefined takes everything buffered. */
function allOrMax(where: string, maxBytes: number | undefined): number {
  return maxBytes === undefined ? Number.MAX_SAFE_INTEGER : checkMaxBytes(where, maxBytes);
}

/** An unbounded queue of bytes with an end-of-stream mark and a lot for tasks waiting for data. */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private eof = false;
  private closedError: Error | undefined;
  readonly lot = new ParkingLot();

  put(data: Uint8Array): void {
    if (this.eof) throw new ClosedResourceError('cannot put data after the end of stream');
    if (data.length > 0) {
      this.chunks.push(data.slice());
      this.size += data.length;
    }
    this.lot.unparkAll();
  }

  putEof(): void {
    this.eof = true;
    this.lot.unparkAll();
  }

  /** Wakes the waiters with `error` (the reading side was closed under them). */
  fail(error: Error): void {
    this.closedError = error;
    this.lot.unparkAll();
  }

  /** Up to `maxBytes` bytes, an empty array at end of stream, or undefined when none yet. */
  takeNowait(maxBytes: number): Uint8Array | undefined {
    if (this.closedError !== undefined) throw this.closedError;
    if (this.size === 0) return this.eof ? new Uint8Array(0) : undefined;
    const out = new Uint8Array(Math.min(maxBytes, this.size));
    let filled = 0;
    while (filled < out.length) {
      const head = this.chunks[0]!;
      const n = Math.min(head.length, out.length - filled);
      out.set(head.subarray(0, n), filled);
      filled += n;
      if (n === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
    }
    this.size -= filled;
    return out;
  }

  /** A checkpoint: a cancel point on entry, then a wait for data or a schedule point (as Trio's). */
  async take(maxBytes: number, where: string): Promise<Uint8Array> {
    const ctx = currentContext(where);
    cancelPoint(ctx);
    let data = this.takeNowait(maxBytes);
    if (data !== undefined) {
      const macrotask = schedulePoint(ctx);
      if (macrotask !== undefined) await macrotask;
      return data;
    }
    do {
      await this.lot.park();
      data = this.takeNowait(maxBytes);
    } while (data === undefined);
    return data;
  }
}

/**
 * A send stream whose data goes into an internal buffer; take it out with `getData`. Each
 * hook is awaited after the operation of the same name (`sendAllHook` after the data is
 * buffered); the test kit's pairs use them to pump data to a receive stream.
 */
export class MemorySendStream implements SendStream {
  private readonly outgoing = new ByteQueue();
  private readonly conflict = new ConflictDetector('another task is already sending on this MemorySendStream');
  private closed = false;

  constructor(
    public sendAllHook?: Hook,
    public waitSendAllMightNotBlockHook?: Hook,
    public closeHook?: () => void,
  ) {}

  /** Buffers a copy of `data`, then runs `sendAllHook`. A checkpoint. */
  async sendAll(data: Uint8Array): Promise<void> {
    checkData('MemorySendStream.sendAll', data);
    const ctx = currentContext('MemorySendStream.sendAll');
    this.conflict.enter();
    try {
      cancelPoint(ctx);
      if (this.closed) throw new ClosedResourceError('this MemorySendStream was closed');
      this.outgoing.put(data);
      const yieldNow = schedulePoint(ctx);
      if (yieldNow !== undefined) await yieldNow;
      await this.sendAllHook?.();
    } finally {
      this.conflict.exit();
    }
  }

  /** A checkpoint, then `waitSendAllMightNotBlockHook`. */
  async waitSendAllMightNotBlock(): Promise<void> {
    this.conflict.enter();
    try {
      await checkpoint();
      if (this.closed) throw new ClosedResourceError('this MemorySendStream was closed');
      await this.waitSendAllMightNotBlockHook?.();
    } finally {
      this.conflict.exit();
    }
  }

  /** Closes the stream (an end of stream for `getData`), runs `closeHook`. A checkpoint. */
  async aclose(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.outgoing.putEof();
      this.closeHook?.();
    }
    await checkpoint();
  }

  /** Waits for buffered data and takes up to `maxBytes` of it (empty: closed and drained). */
  async getData(maxBytes?: number): Promise<Uint8Array> {
    return this.outgoing.take(allOrMax('MemorySendStream.getData', maxBytes), 'MemorySendStream.getData');
  }

  /** Takes up to `maxBytes` of the buffered data, or raises `WouldBlock` when there is none. */
  getDataNowait(maxBytes?: number): Uint8Array {
    const data = this.outgoing.takeNowait(allOrMax('MemorySendStream.getDataNowait', maxBytes));
    if (data === undefined) throw new WouldBlock('no data buffered');
    return data;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/**
 * A receive stream fed by hand: `putData(bytes)` and `putEof()`. `receiveSomeHook` is awaited
 * before each `receiveSome` looks for data (the test kit's pairs pump data in from it).
 */
export class MemoryReceiveStream implements ReceiveStream {
  private readonly incoming = new ByteQueue();
  private readonly conflict = new ConflictDetector('another task is already receiving on this MemoryReceiveStream');
  private closed = false;

  constructor(
    public receiveSomeHook?: Hook,
    public closeHook?: () => void,
  ) {}

  /** Waits for data; returns 1 to `maxBytes` bytes, or an empty array after `putEof`. */
  async receiveSome(maxBytes?: number): Promise<Uint8Array> {
    const max = checkMaxBytes('MemoryReceiveStream.receiveSome', maxBytes);
    this.conflict.enter();
    try {
      await checkpoint();
      if (this.closed) throw new ClosedResourceError('this MemoryReceiveStream was closed');
      await this.receiveSomeHook?.();
      return await this.incoming.take(max, 'MemoryReceiveStream.receiveSome');
    } finally {
      this.conflict.exit();
    }
  }

  /** Closes the stream; a task blocked in `receiveSome` gets `ClosedResourceError`. */
  async aclose(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.incoming.fail(new ClosedResourceError('this MemoryReceiveStream was closed'));
      this.closeHook?.();
    }
    await checkpoint();
  }

  /** Makes `data` available to `receiveSome`. Raises `ClosedResourceError` if the stream is closed. */
  putData(data: Uint8Array): void {
    checkData('MemoryReceiveStream.putData', data);
    if (this.closed) throw new ClosedResourceError('this MemoryReceiveStream was closed');
    this.incoming.put(data);
  }

  /** Marks the end of stream: after the buffered data, `receiveSome` returns empty arrays. */
  putEof(): void {
    this.incoming.putEof();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return receiveChunks(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/**
 * Moves up to `maxBytes` bytes buffered in `send` into `receive` (or the end of stream, once
 * `send` is closed and drained). Returns false when there was nothing to move. Raises
 * `BrokenResourceError` when `receive` was closed. Not a checkpoint.
 */
export function memoryStreamPump(send: MemorySendStream, receive: MemoryReceiveStream, maxBytes?: number): boolean {
  let data: Uint8Array;
  try {
    data = send.getDataNowait(maxBytes);
  } catch (error) {
    if (error instanceof WouldBlock) return false;
    throw error;
  }
  try {
    if (data.length === 0) receive.putEof();
    else receive.putData(data);
  } catch (error) {
    if (error instanceof ClosedResourceError) throw new BrokenResourceError('the receiving stream was closed', { cause: error });
    throw error;
  }
  return true;
}

/** A one-way pair joined by an unbounded buffer: `sendAll` never blocks. */
export function memoryStreamOneWayPair(): [MemorySendStream, MemoryReceiveStream] {
  const send = new MemorySendStream();
  const receive = new MemoryReceiveStream();
  const pump = (): void => {
    memoryStreamPump(send, receive); // moves everything buffered (or the end of stream)
  };
  send.sendAllHook = pump;
  send.closeHook = () => {
    try {
      pump();
    } catch {
      // The receiver is gone; nobody will read the end of stream.
    }
  };
  return [send, receive];
}

/** A two-way pair of `StapledStream`s over two one-way memory pairs (half-closeable). */
export function memoryStreamPair(): [MemoryStapledStream, MemoryStapledStream] {
  const [aSend, bReceive] = memoryStreamOneWayPair();
  const [bSend, aReceive] = memoryStreamOneWayPair();
  return [new StapledStream(aSend, aReceive), new StapledStream(bSend, bReceive)];
}

export type MemoryStapledStream = StapledStream<MemorySendStream, MemoryReceiveStream>;

/**
 * The buffer-less channel of a lockstep pair: the sender's data waits here until the receiver
 * has taken every byte of it.
 */
class LockstepQueue {
  private pending: Uint8Array = new Uint8Array(0);
  private senderClosed = false;
  private receiverClosed = false;
  private receiverWaiting = 0;
  private readonly lot = new ParkingLot();
  readonly sendConflict = new ConflictDetector('another task is already sending on this lockstep stream');
  readonly receiveConflict = new ConflictDetector('another task is already receiving on this lockstep stream');
  sendClosedByUs = false;
  receiveClosedByUs = false;

  async sendAll(data: Uint8Array): Promise<void> {
    checkData('LockstepStream.sendAll', data);
    this.sendConflict.enter();
    try {
      await checkpoint();
      if (this.sendClosedByUs) throw new ClosedResourceError('this lockstep stream was closed');
      if (this.receiverClosed) throw new BrokenResourceError('the receiving side of this lockstep stream was closed');
      if (data.length === 0) return;
      this.pending = data.slice();
      this.lot.unparkAll();
      try {
        while (this.pending.length > 0) {
          if (this.receiverClosed) throw new BrokenResourceError('the receiving side of this lockstep stream was closed');
          if (this.sendClosedByUs) throw new ClosedResourceError('this lockstep stream was closed');
          await this.lot.park();
        }
      } finally {
        this.pending = new Uint8Array(0); // a cancelled send takes back what was not received
      }
    } finally {
      this.sendConflict.exit();
    }
  }

  async waitSendAllMightNotBlock(): Promise<void> {
    this.sendConflict.enter();
    try {
      await checkpoint();
      while (this.receiverWaiting === 0 && !this.receiverClosed && !this.sendClosedByUs) await this.lot.park();
      if (this.sendClosedByUs) throw new ClosedResourceError('this lockstep stream was closed');
    } finally {
      this.sendConflict.exit();
    }
  }

  async receiveSome(maxBytes: number | undefined): Promise<Uint8Array> {
    const max = checkMaxBytes('LockstepStream.receiveSome', maxBytes);
    this.receiveConflict.enter();
    try {
      await checkpoint();
      this.receiverWaiting++;
      this.lot.unparkAll();
      try {
        for (;;) {
          if (this.receiveClosedByUs) throw new ClosedResourceError('this lockstep stream was closed');
          if (this.pending.length > 0) {
            const out = this.pending.subarray(0, max);
            this.pending = this.pending.subarray(out.length);
            this.lot.unparkAll();
            return out;
          }
          if (this.senderClosed) return new Uint8Array(0);
          await this.lot.park();
        }
      } finally {
        this.receiverWaiting--;
      }
    } finally {
      this.receiveConflict.exit();
    }
  }

  closeSender(): void {
    this.sendClosedByUs = true;
    this.senderClosed = true;
    this.lot.unparkAll();
  }

  closeReceiver(): void {
    this.receiveClosedByUs = true;
    this.receiverClosed = true;
    this.lot.unparkAll();
  }
}

/** The send side of a lockstep one-way pair. */
export class LockstepSendStream implements SendStream {
  /** @internal */ constructor(private readonly queue: LockstepQueue) {}
  sendAll(data: Uint8Array): Promise<void> {
    return this.queue.sendAll(data);
  }
  waitSendAllMightNotBlock(): Promise<void> {
    return this.queue.waitSendAllMightNotBlock();
  }
  /** Closes the stream; the receiver sees the end of stream. Raises `BusyResourceError` during a `sendAll`. */
  async sendEof(): Promise<void> {
    this.queue.sendConflict.enter();
    this.queue.sendConflict.exit();
    await this.aclose();
  }
  async aclose(): Promise<void> {
    this.queue.closeSender();
    await checkpoint();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/** The receive side of a lockstep one-way pair. */
export class LockstepReceiveStream implements ReceiveStream {
  /** @internal */ constructor(private readonly queue: LockstepQueue) {}
  receiveSome(maxBytes?: number): Promise<Uint8Array> {
    return this.queue.receiveSome(maxBytes);
  }
  async aclose(): Promise<void> {
    this.queue.closeReceiver();
    await checkpoint();
  }
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return receiveChunks(this);
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/** A one-way pair with no buffer: `sendAll` returns once the receiver has taken every byte. */
export function lockstepStreamOneWayPair(): [LockstepSendStream, LockstepReceiveStream] {
  const queue = new LockstepQueue();
  return [new LockstepSendStream(queue), new LockstepReceiveStream(queue)];
}

/** A two-way lockstep pair (half-closeable: `sendEof` closes the send side). */
export function lockstepStreamPair(): [LockstepStapledStream, LockstepStapledStream] {
  const [aSend, bReceive] = lockstepStreamOneWayPair();
  const [bSend, aReceive] = lockstepStreamOneWayPair();
  return [new StapledStream(aSend, aReceive), new StapledStream(bSend, bReceive)];
}

export type LockstepStapledStream = StapledStream<LockstepSendStream, LockstepReceiveStream>;
