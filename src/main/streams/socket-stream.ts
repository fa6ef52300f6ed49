/**
 * `SocketStream`: a triode stream over a connected `net.Socket` (TCP or a Unix domain socket),
 * with Trio's guarantees.
 *
 * The socket stays in paused mode: bytes are read from it only inside `receiveSome`, so what a
 * cancelled `receiveSome` did not return stays in the socket's buffer for the next call, and an
 * idle reader lets the kernel's window fill and the peer's writes block (backpressure on
 * receive). `sendAll` returns once Node has handed every byte to the kernel, waiting for the
 * write to complete when the kernel buffer is full (backpressure on send: nothing queues
 * without bound, and the caller may reuse its buffer after the call).
 *
 * Errors: `ClosedResourceError` after your own `aclose` (also in a task blocked in the stream);
 * `BrokenResourceError` with the system error as `cause` when the peer reset the connection or
 * the socket failed; `BusyResourceError` for two concurrent `sendAll`s or `receiveSome`s.
 */
import net from 'node:net';
import type { BrokenResourceError } from '../../shared/errors.js';
import { brokenConnection, closedConnection } from './connection-errors.js';
import { cancelPoint, checkpoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import { describe } from '../core/validate.js';
import { waitForEvent } from '../core/wait-event.js';
import type { HalfCloseableStream } from './abc.js';
import { ConflictDetector } from '../sync/conflict-detector.js';
import { checkData, checkMaxBytes, receiveChunks } from './receive-chunks.js';
import { ParkingLot } from '../sync/parking-lot.js';

const EMPTY = new Uint8Array(0);

export class SocketStream implements HalfCloseableStream {
  /** The wrapped socket (for `remoteAddress`, `setKeepAlive`, …). Do not read from or write to it. */
  readonly socket: net.Socket;
  private readonly sendConflict = new ConflictDetector('another task is already sending on this SocketStream');
  private readonly receiveConflict = new ConflictDetector('another task is already receiving on this SocketStream');
  private readonly receiver = new ParkingLot();
  private readonly sender = new ParkingLot();
  private closed = false;
  private eofSent = false;
  private peerEof = false;
  private failure: Error | undefined;

  /**
   * Wraps a connected socket. Create sockets with `allowHalfOpen: true` (every triode opener
   * does) so that the peer's EOF does not end your sending side.
   */
  constructor(socket: net.Socket) {
    if (!(socket instanceof net.Socket)) {
      throw new TypeError(`SocketStream: socket must be a net.Socket, got ${describe(socket)}`);
    }
    this.socket = socket;
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    socket.on('readable', () => this.receiver.unparkAll());
    socket.on('end', () => {
      this.peerEof = true;
      this.receiver.unparkAll();
    });
    socket.on('drain', () => this.sender.unparkAll());
    socket.on('error', (error: Error) => {
      this.failure ??= error;
      this.receiver.unparkAll();
      this.sender.unparkAll();
    });
    socket.on('close', () => {
      this.receiver.unparkAll();
      this.sender.unparkAll();
    });
  }

  private brokenError(): BrokenResourceError {
    const cause = this.failure;
    return brokenConnection(
      cause ? `the connection broke: ${cause.message}` : 'the connection was closed under this stream',
      cause ? { cause } : undefined,
    );
  }

  private checkOpen(): void {
    if (this.closed) throw closedConnection('this SocketStream was closed');
  }

  /**
   * Waits for data and returns 1 to `maxBytes` (default 65,536) bytes; an empty array once the
   * peer sent EOF and everything before it was read. A checkpoint; a cancelled call consumes
   * nothing.
   */
  async receiveSome(maxBytes?: number): Promise<Uint8Array> {
    const max = checkMaxBytes('SocketStream.receiveSome', maxBytes);
    const ctx = currentContext('SocketStream.receiveSome');
    this.receiveConflict.enter();
    try {
      for (;;) {
        cancelPoint(ctx);
        this.checkOpen();
        const chunk = this.socket.read() as Buffer | null;
        // The side stays held across the schedule point (an await even when it does not reach
        // the event loop), so a concurrent call sees BusyResourceError as with any stream.
        if (chunk !== null) {
          if (chunk.length > max) this.socket.unshift(chunk.subarray(max));
          await schedulePoint(ctx);
          return chunk.length > max ? chunk.subarray(0, max) : chunk;
        }
        if (this.failure !== undefined) throw this.brokenError();
        if (this.peerEof) {
          await checkpoint();
          return EMPTY;
        }
        if (this.socket.destroyed) throw this.brokenError();
        await this.receiver.parkWait(ctx, 'SocketStream.receiveSome').promise;
      }
    } finally {
      this.receiveConflict.exit();
    }
  }

  /**
   * Sends every byte of `data`; returns once the kernel has them, waiting while its buffer is
   * full. A checkpoint. Cancelled while waiting, some of `data` may still be sent later: treat
   * the stream as unusable and close it.
   */
  async sendAll(data: Uint8Array): Promise<void> {
    checkData('SocketStream.sendAll', data);
    const ctx = currentContext('SocketStream.sendAll');
    this.sendConflict.enter();
    try {
      cancelPoint(ctx);
      this.checkSendable();
      if (data.length > 0) {
        let written = false;
        let writeError: Error | null | undefined;
        this.socket.write(data, (error) => {
          written = true;
          writeError = error;
          this.sender.unparkAll();
        });
        // Written to the kernel at once (the usual case): the callback only confirms it later.
        if (this.socket.writableLength > 0) {
          while (!written) {
            this.checkOpen();
            if (this.failure !== undefined || this.socket.destroyed) throw this.brokenError();
            await this.sender.parkWait(ctx, 'SocketStream.sendAll').promise;
          }
          if (writeError) {
            this.checkOpen();
            this.failure ??= writeError;
            throw this.brokenError();
          }
        }
      }
      await schedulePoint(ctx);
    } finally {
      this.sendConflict.exit();
    }
  }

  private checkSendable(): void {
    this.checkOpen();
    if (this.eofSent) throw closedConnection('this SocketStream already sent EOF (sendEof)');
    if (this.failure !== undefined || this.socket.destroyed || !this.socket.writable) throw this.brokenError();
  }

  /** Returns when the socket's write buffer has drained. A checkpoint; cancellation is harmless. */
  async waitSendAllMightNotBlock(): Promise<void> {
    const ctx = currentContext('SocketStream.waitSendAllMightNotBlock');
    this.sendConflict.enter();
    try {
      cancelPoint(ctx);
      for (;;) {
        this.checkOpen();
        if (!this.socket.writableNeedDrain || this.failure !== undefined || this.socket.destroyed) break;
        await this.sender.parkWait(ctx, 'SocketStream.waitSendAllMightNotBlock').promise;
      }
      await schedulePoint(ctx);
    } finally {
      this.sendConflict.exit();
    }
  }

  /**
   * Sends EOF (a TCP FIN): the peer reads the end of stream, and this stream can still receive.
   * Idempotent. A checkpoint.
   */
  async sendEof(): Promise<void> {
    const ctx = currentContext('SocketStream.sendEof');
    this.sendConflict.enter();
    try {
      cancelPoint(ctx);
      this.checkOpen();
      if (!this.eofSent) {
        this.eofSent = true;
        if (!this.socket.destroyed) this.socket.end();
      }
      await schedulePoint(ctx);
    } finally {
      this.sendConflict.exit();
    }
  }

  /**
   * Closes the socket (the kernel still delivers what was sent, then a FIN). Idempotent; tasks
   * blocked in this stream raise `ClosedResourceError`. A checkpoint; closes even when cancelled.
   */
  async aclose(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.socket.destroy();
      this.receiver.unparkAll();
      this.sender.unparkAll();
    }
    await checkpoint();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return receiveChunks(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/**
 * Connects a new socket (`allowHalfOpen`, as every triode stream wants) and wraps it. A
 * checkpoint; cancellation or a failure destroys the socket.
 */
export async function connectSocket(options: net.NetConnectOpts, what: string): Promise<SocketStream> {
  const socket = new net.Socket({ allowHalfOpen: true });
  try {
    socket.connect(options);
    await waitForEvent(socket, 'connect', what, () => socket.destroy());
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return new SocketStream(socket);
}
