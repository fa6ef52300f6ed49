/**
 * TLS over any triode stream: `TLSStream`, `TLSListener`, `openTlsOverTcpStream`,
 * `serveTlsOverTcp`.
 *
 * Node's TLS engine (`tls.TLSSocket`) works on a Node Duplex. A TLSStream gives it one whose
 * other end is the transport stream, and moves ciphertext between the two only inside its
 * callers' own calls, as Trio's SSLStream does: the task in `receiveSome`, `sendAll`,
 * `doHandshake`, `aclose` or `unwrap` sends what the engine wrote and receives what the engine
 * asks for until its own goal is met. Every transport operation therefore runs in a caller's task
 * under the caller's cancel scopes, a transport error reaches the caller as the transport raised
 * it, and nothing of a TLSStream outlives the nursery that uses it. Nothing runs while nobody
 * calls: the handshake happens in the first call that needs it (or in `doHandshake`).
 *
 * Roles. Two tasks may use a stream at once (one receiving, one sending, as with any stream), so
 * the transport is shared by role: one task at a time sends ciphertext (`sending`), one receives
 * it (`receiving`). A task that needs a role another holds waits for the engine's next event.
 * Ciphertext the engine wrote is sent before a call returns (Trio sends what an operation
 * produced before it returns), so a peer waiting for it is never left waiting by a finished call.
 *
 * Node's engine is not Trio's synchronous SSLObject: it can write ciphertext on its own, after an
 * earlier write completed (from a `setImmediate`). If that happens while the only task in the
 * stream is blocked in the transport's `receiveSome`, that receive is interrupted (a cancelled
 * transport receive consumes nothing, by the Stream contract) so the bytes go out first — the
 * peer may be waiting for them before it sends anything.
 *
 * Breakage. A transport send cancelled or failed part-way leaves an unknown prefix of a TLS
 * record on the wire: the stream is broken from then on (Trio's rule); later calls raise
 * `BrokenResourceError`. A cancelled receive or wait breaks nothing. The transport's own errors
 * propagate unchanged to the task that met them; other tasks see `BrokenResourceError` with the
 * error as its `cause`.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { isCancellation, type BrokenResourceError } from '../../shared/errors.js';
import { brokenConnection, closedConnection } from './connection-errors.js';
import { CancelScope } from '../core/cancel-scope.js';
import { cancelPoint, checkpoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext, type Context } from '../core/context.js';
import type { TaskStatus } from '../core/nursery.js';
import { checkOptions, describe } from '../core/validate.js';
import type { Listener, Stream } from './abc.js';
import { isReceiveStream, isSendStream } from './abc.js';
import { ConflictDetector } from '../sync/conflict-detector.js';
import { checkData, checkMaxBytes, receiveChunks } from './receive-chunks.js';
import { optionsAndStatus, serveListeners, type ServeListenersOptions } from './serve.js';
import { ParkingLot } from '../sync/parking-lot.js';
import type { SocketListener } from './socket-listener.js';
import type { SocketStream } from './socket-stream.js';
import { openTcpListeners, openTcpStream, type OpenTcpListenersOptions, type OpenTcpStreamOptions } from './tcp.js';

const EMPTY = new Uint8Array(0);

type WriteCallback = (error?: Error | null) => void;

/** The Duplex the TLS engine reads ciphertext from and writes ciphertext to. */
class CiphertextDuplex extends Duplex {
  /** Ciphertext the engine wrote and no task has sent yet, with the engine's write callbacks. */
  readonly outgoing: { chunk: Buffer; callback: WriteCallback }[] = [];
  /** The engine asked for ciphertext (`_read`) and has not refused any since (`push` → false). */
  readWanted = false;

  constructor(private readonly changed: () => void) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.outgoing.push({ chunk, callback });
    this.changed();
  }

  override _read(): void {
    this.readWanted = true;
    this.changed();
  }

  override _final(callback: WriteCallback): void {
    callback();
  }

  override _destroy(error: Error | null, callback: WriteCallback): void {
    for (const { callback: cb } of this.outgoing.splice(0)) cb(error ?? new Error('the TLS transport was closed'));
    this.changed();
    callback(error);
  }
}

export interface TLSStreamOptions extends tls.ConnectionOptions {
  /** True for the server end of the connection (then `key`/`cert` or `secureContext` are needed). */
  serverSide?: boolean;
  /**
   * Trio's `https_compatible`: `aclose` closes the transport without sending close-notify, and a
   * transport that ends without one (or before the handshake) reads as a clean end of stream —
   * what HTTPS peers do. Default false: such an end raises `BrokenResourceError`, since an
   * attacker on the path can cut a stream short that way.
   */
  httpsCompatible?: boolean;
}

/** A TLS connection over a triode `Stream`. */
export class TLSStream<T extends Stream = Stream> implements Stream {
  /** The stream carrying the ciphertext. Do not use it while the TLSStream is open. */
  readonly transportStream: T;
  /** Node's TLS socket (for `getPeerCertificate()`, `alpnProtocol`, `getProtocol()`, …). */
  readonly tlsSocket: tls.TLSSocket;
  private readonly duplex: CiphertextDuplex;
  /** Unparked on every event of the engine, the duplex or a role. */
  private readonly changed = new ParkingLot();
  private readonly sendConflict = new ConflictDetector('another task is already sending on this TLSStream');
  private readonly receiveConflict = new ConflictDetector('another task is already receiving on this TLSStream');
  /** Tasks inside `drive` (a task about to write plaintext counts: it will send what that writes). */
  private drivers = 0;
  /** A task is in the transport's sendAll (or waitSendAllMightNotBlock). */
  private sending = false;
  /** The scope of the transport receive under way, cancelled to send what the engine wrote meanwhile. */
  private receiveInterrupt: CancelScope | undefined;
  /** Write callbacks handed back to the engine whose effect (maybe more ciphertext) is still to come. */
  private completionsPending = 0;
  private transportEnded = false;
  /**
   * A TLS 1.3 server's ciphertext from the end of its handshake (session tickets) is held until
   * its first send, as Trio does (OpenSSL sends tickets the client is not reading yet: over a
   * transport without buffering, both ends would block in a send).
   */
  private holdOutgoing = false;
  private closed = false;
  private secure = false;
  /** The event that says the handshake succeeded: a client's certificate check comes after 'secure'. */
  private readonly secureEvent: 'secure' | 'secureConnect';
  private readonly httpsCompatible: boolean;
  /** Why the stream broke: the TLS engine's error, or the transport's. */
  private failure: Error | undefined;

  /**
   * Sets TLS up over `transport` (client side unless `serverSide`). Not a checkpoint, and nothing
   * is sent yet: the handshake runs in the first call that needs it. Must be called inside `run()`.
   */
  constructor(transport: T, options: TLSStreamOptions = {}) {
    if (!isSendStream(transport) || !isReceiveStream(transport)) {
      throw new TypeError(`TLSStream: transport must be a triode Stream, got ${describe(transport)}`);
    }
    options = checkOptions('TLSStream', options);
    currentContext('new TLSStream');
    this.transportStream = transport;
    this.duplex = new CiphertextDuplex(() => this.onChange());
    const { serverSide, httpsCompatible, ...tlsOptions } = options;
    if (httpsCompatible !== undefined && typeof httpsCompatible !== 'boolean') {
      throw new TypeError(`TLSStream: options.httpsCompatible must be a boolean, got ${describe(httpsCompatible)}`);
    }
    this.httpsCompatible = httpsCompatible === true;
    this.tlsSocket = serverSide
      ? new tls.TLSSocket(this.duplex as never, { ...tlsOptions, isServer: true })
      : tls.connect({ ...tlsOptions, socket: this.duplex });
    this.secureEvent = serverSide ? 'secure' : 'secureConnect';
    const wake = (): void => void this.changed.unparkAll();
    this.tlsSocket.once(this.secureEvent, () => {
      this.secure = true;
      if (serverSide && this.tlsSocket.getProtocol() === 'TLSv1.3') this.holdOutgoing = true;
      wake();
    });
    this.tlsSocket.on('error', (error: Error) => {
      this.failure ??= error;
      wake();
    });
    this.tlsSocket.on('readable', wake).on('end', wake).on('close', wake);
    // Registered after the engine's own listener: the plaintext of a chunk is in the TLS socket's
    // buffer by the time this runs.
    this.duplex.on('data', wake).on('finish', wake);
  }

  /** Something changed: wake the waiting tasks, and make sure new ciphertext has a sender. */
  private onChange(): void {
    this.changed.unparkAll();
    // The only task in the stream is blocked receiving, and nobody sends: interrupt its receive
    // so it sends first (the peer may be waiting for these bytes before it sends anything).
    if (this.toSend() && !this.sending && this.drivers === 1) this.receiveInterrupt?.cancel();
  }

  /** Whether the engine wrote ciphertext that is due to be sent. */
  private toSend(): boolean {
    return this.duplex.outgoing.length > 0 && !this.holdOutgoing;
  }

  private brokenError(): BrokenResourceError {
    // The engine destroys its socket with the error at once and emits 'error' a tick later.
    const cause = this.failure ?? this.tlsSocket.errored ?? undefined;
    return brokenConnection(`the TLS connection broke: ${cause?.message ?? 'closed'}`, { cause });
  }

  private checkOpen(): void {
    if (this.closed) throw closedConnection('this TLSStream was closed');
  }

  private broken(): boolean {
    return this.failure !== undefined || this.tlsSocket.destroyed;
  }

  /**
   * Whether the TLS engine has read the peer's close-notify (or the transport's end). The engine
   * ends the plaintext side (push(null)) synchronously while it processes the record;
   * `readableEnded` would only say so once the plaintext was consumed.
   */
  private peerClosedTls(): boolean {
    const state = (this.tlsSocket as unknown as { _readableState?: { ended?: boolean } })._readableState;
    return state?.ended === true;
  }

  /**
   * Moves ciphertext in the calling task until `done()`: sends what the engine wrote (unless
   * another task is sending), receives while `wantRead()` and the engine asks for more (unless
   * another task is receiving), and otherwise waits for the engine's next event. `start` runs
   * first, counted as a driver (a plaintext write: this task sends what it produces). Returns
   * whether the task blocked or yielded at all.
   */
  private async drive(
    ctx: Context,
    what: string,
    done: () => boolean,
    wantRead: () => boolean,
    start?: () => void,
  ): Promise<boolean> {
    this.drivers++;
    let yielded = false;
    try {
      start?.();
      for (;;) {
        this.checkOpen();
        if (this.toSend() && !this.sending && !this.broken()) {
          cancelPoint(ctx);
          yielded = true;
          await this.sendCiphertext();
          continue;
        }
        if (done()) return yielded;
        if (this.broken()) throw this.brokenError();
        if (this.transportEnded && !this.secure && this.peerClosedTls()) {
          this.fail(brokenConnection('the transport reached its end before the TLS handshake finished'));
          throw this.brokenError();
        }
        yielded = true;
        if (wantRead() && this.duplex.readWanted && this.receiveInterrupt === undefined && !this.transportEnded) {
          cancelPoint(ctx);
          await this.receiveCiphertext();
        } else {
          await this.changed.parkWait(ctx, what).promise;
        }
      }
    } finally {
      this.drivers--;
      this.onChange();
    }
  }

  /** Sends all the ciphertext the engine wrote, then hands the engine its write callbacks. */
  private async sendCiphertext(): Promise<void> {
    const batch = this.duplex.outgoing.splice(0);
    const data = batch.length === 1 ? batch[0]!.chunk : Buffer.concat(batch.map((b) => b.chunk));
    this.sending = true;
    try {
      await this.transportStream.sendAll(data);
    } catch (error) {
      // An unknown prefix of these records may be on the wire: the session cannot go on.
      this.fail(isCancellation(error) ? new Error('a ciphertext send was cancelled part-way') : error);
      throw error;
    } finally {
      this.sending = false;
    }
    this.completionsPending++;
    for (const { callback } of batch) callback();
    // The engine learns of the completion from a setImmediate queued by the callbacks above (Node's
    // JSStreamSocket) and may write more then; this one runs after it.
    setImmediate(() => {
      this.completionsPending--;
      this.onChange();
    });
  }

  /** Receives one chunk of ciphertext into the engine, unless interrupted to send first. */
  private async receiveCiphertext(): Promise<void> {
    const interrupt = new CancelScope();
    this.receiveInterrupt = interrupt;
    let chunk: Uint8Array | undefined;
    try {
      chunk = await interrupt.run(() => this.transportStream.receiveSome());
    } catch (error) {
      if (!isCancellation(error)) this.fail(error);
      throw error;
    } finally {
      this.receiveInterrupt = undefined;
    }
    if (chunk === undefined) return;
    if (chunk.length === 0) {
      this.transportEnded = true;
      // Reading stops at the peer's close-notify, so an end read after the handshake came without
      // one: the data may have been cut short by anyone on the path (Trio raises too). Plaintext
      // already decrypted is still returned first.
      if (this.secure && !this.httpsCompatible) {
        this.failure ??= brokenConnection('the peer closed the transport without a TLS close-notify (the data may be truncated)');
        return;
      }
      // During the handshake the engine reports the end itself (then `drive` raises); after it,
      // in HTTPS mode, the engine ends the plaintext side.
      this.duplex.push(null);
      return;
    }
    this.duplex.readWanted = this.duplex.push(chunk);
  }

  /** Marks the stream broken by `error` (the first reason wins) and fails the engine's writes. */
  private fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
    this.duplex.destroy(this.failure);
  }

  /** Drives until the handshake is done. */
  private handshake(ctx: Context, what: string): Promise<boolean> {
    return this.drive(ctx, what, () => this.secure && this.quiet(), () => !this.secure);
  }

  /** Nothing the engine wrote is waiting, and no completion can make it write more. */
  private quiet(): boolean {
    return !this.toSend() && this.completionsPending === 0;
  }

  /**
   * Performs the handshake if it has not happened yet, and waits until it has; raises
   * `BrokenResourceError` (cause: the TLS error) if it failed. Idempotent. A checkpoint. A
   * cancelled handshake can be resumed by the next call unless it was cancelled part-way through
   * a send (then the stream is broken).
   */
  async doHandshake(): Promise<void> {
    const ctx = currentContext('TLSStream.doHandshake');
    cancelPoint(ctx);
    this.checkOpen();
    const yielded = await this.handshake(ctx, 'TLSStream.doHandshake');
    if (!yielded) await schedulePoint(ctx);
  }

  /**
   * Encrypts and sends every byte of `data` (after the handshake, which it performs if needed);
   * returns once the transport took all of it. A checkpoint. Cancelled, some of `data` may still
   * go out with a later call: treat the stream as unusable and close it.
   */
  async sendAll(data: Uint8Array): Promise<void> {
    checkData('TLSStream.sendAll', data);
    const ctx = currentContext('TLSStream.sendAll');
    this.sendConflict.enter();
    try {
      cancelPoint(ctx);
      this.checkOpen();
      let yielded = await this.handshake(ctx, 'TLSStream.sendAll');
      if (data.length > 0) {
        if (!this.tlsSocket.writable) throw this.broken() ? this.brokenError() : closedConnection('this TLSStream already closed its sending side');
        let written = false;
        let writeError: Error | null | undefined;
        const write = (): void => {
          this.holdOutgoing = false;
          this.tlsSocket.write(data, (error) => {
            written = true;
            writeError = error;
            this.changed.unparkAll();
          });
        };
        yielded = (await this.drive(ctx, 'TLSStream.sendAll', () => written, () => false, write)) || yielded;
        if (writeError) {
          this.checkOpen();
          this.failure ??= writeError;
          throw this.brokenError();
        }
      }
      if (!yielded) await schedulePoint(ctx);
    } finally {
      this.sendConflict.exit();
    }
  }

  /**
   * Returns when a `sendAll` might not block: when the transport's does not (waiting first for
   * a send of handshake data another call has under way). A checkpoint; cancellation is harmless.
   */
  async waitSendAllMightNotBlock(): Promise<void> {
    const ctx = currentContext('TLSStream.waitSendAllMightNotBlock');
    this.sendConflict.enter();
    try {
      cancelPoint(ctx);
      await this.drive(ctx, 'TLSStream.waitSendAllMightNotBlock', () => !this.sending, () => false);
      this.sending = true;
      try {
        await this.transportStream.waitSendAllMightNotBlock();
      } finally {
        this.sending = false;
        this.onChange();
      }
    } finally {
      this.sendConflict.exit();
    }
  }

  /**
   * Returns 1 to `maxBytes` bytes of plaintext (performing the handshake first if needed); an
   * empty array once the peer closed TLS (sent close-notify, or closed the transport). A
   * checkpoint; a cancelled call consumes nothing.
   */
  async receiveSome(maxBytes?: number): Promise<Uint8Array> {
    const max = checkMaxBytes('TLSStream.receiveSome', maxBytes);
    const ctx = currentContext('TLSStream.receiveSome');
    this.receiveConflict.enter();
    try {
      cancelPoint(ctx);
      this.checkOpen();
      let yielded: boolean;
      try {
        yielded = await this.drive(
          ctx,
          'TLSStream.receiveSome',
          () => this.secure && (this.tlsSocket.readableLength > 0 || this.peerClosedTls()),
          () => !this.peerClosedTls(),
        );
      } catch (error) {
        // In HTTPS mode the transport's end is the end of stream, even before the handshake.
        if (!(this.httpsCompatible && this.transportEnded && !this.closed && !isCancellation(error))) throw error;
        await checkpoint();
        return EMPTY;
      }
      if (!yielded) await schedulePoint(ctx);
      const chunk = this.tlsSocket.read() as Buffer | null;
      if (chunk === null) return EMPTY;
      if (chunk.length > max) this.tlsSocket.unshift(chunk.subarray(max));
      return chunk.length > max ? chunk.subarray(0, max) : chunk;
    } finally {
      this.receiveConflict.exit();
    }
  }

  /** Sends close-notify: drives until the engine's sending side is finished. */
  private async sendCloseNotify(ctx: Context): Promise<void> {
    this.holdOutgoing = false;
    if (!this.tlsSocket.writableEnded) this.tlsSocket.end();
    await this.drive(ctx, 'TLSStream close-notify', () => this.duplex.writableFinished && this.quiet(), () => false);
  }

  /**
   * Finishes the handshake if one is under way, sends close-notify (skipped in HTTPS mode, when
   * the stream is broken, when another task is in the middle of a send — the peer may not be reading, and
   * waiting would make `aclose` hang, as in Trio — or when cancelled: use `acloseForcefully` to
   * skip it on purpose), then closes the transport. Idempotent. Closes even when cancelled.
   */
  async aclose(): Promise<void> {
    if (this.closed) {
      await checkpoint();
      return;
    }
    const ctx = currentContext('TLSStream.aclose');
    let cancelled: unknown;
    if (!this.broken() && !this.sending && !this.httpsCompatible) {
      try {
        cancelPoint(ctx);
        await this.handshake(ctx, 'TLSStream.aclose');
        await this.sendCloseNotify(ctx);
      } catch (error) {
        // A broken or refused handshake leaves nothing to close politely; only a cancellation
        // is the caller's to see.
        if (isCancellation(error)) cancelled = error;
      }
    }
    this.closed = true;
    this.changed.unparkAll();
    this.tlsSocket.destroy();
    this.duplex.destroy();
    await this.transportStream.aclose();
    if (cancelled !== undefined) throw cancelled;
  }

  /**
   * Ends TLS and hands back the transport: sends close-notify, waits for the peer's, and returns
   * `[transportStream, trailingBytes]`. Plaintext the peer still sends before its close-notify
   * raises `BrokenResourceError`. `trailingBytes` is always empty: Node's TLS engine keeps any
   * bytes it read past the close-notify, so a protocol that continues in the clear must wait for
   * the peer to acknowledge first. A checkpoint.
   */
  async unwrap(): Promise<[T, Uint8Array]> {
    const ctx = currentContext('TLSStream.unwrap');
    this.receiveConflict.enter();
    this.sendConflict.enter();
    try {
      cancelPoint(ctx);
      this.checkOpen();
      await this.handshake(ctx, 'TLSStream.unwrap');
      await this.sendCloseNotify(ctx);
      await this.drive(
        ctx,
        'TLSStream.unwrap',
        () => this.tlsSocket.readableLength > 0 || this.peerClosedTls(),
        () => true,
      );
      if (this.tlsSocket.readableLength > 0) throw brokenConnection('unwrap: the peer sent data instead of closing TLS');
      this.closed = true;
      this.changed.unparkAll();
      this.tlsSocket.destroy();
      this.duplex.destroy();
      return [this.transportStream, EMPTY];
    } finally {
      this.sendConflict.exit();
      this.receiveConflict.exit();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return receiveChunks(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/** A listener whose `accept()` wraps each connection of an inner listener in a server-side TLSStream. */
export class TLSListener<T extends Stream = Stream> implements Listener<TLSStream<T>> {
  constructor(
    readonly transportListener: Listener<T>,
    readonly tlsOptions: tls.TlsOptions & Pick<TLSStreamOptions, 'httpsCompatible'>,
  ) {
    if (typeof (transportListener as Listener<T> | null)?.accept !== 'function') {
      throw new TypeError(`TLSListener: transportListener must be a Listener, got ${describe(transportListener)}`);
    }
  }

  /** Accepts a transport connection and starts TLS on it (the handshake runs lazily). A checkpoint. */
  async accept(): Promise<TLSStream<T>> {
    const transport = await this.transportListener.accept();
    return new TLSStream(transport, { ...(this.tlsOptions as tls.ConnectionOptions), serverSide: true });
  }

  /** The inner listener's address, when it has one. */
  address(): ReturnType<SocketListener['address']> {
    return (this.transportListener as { address?: SocketListener["address"] }).address?.() ?? null;
  }

  aclose(): Promise<void> {
    return this.transportListener.aclose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/**
 * `new TLSStream(await openTcpStream(host, port), { servername: host, ...tlsOptions })`. The
 * handshake is lazy (call `doHandshake()` to wait for it). A checkpoint.
 */
export async function openTlsOverTcpStream(
  host: string,
  port: number,
  tlsOptions: tls.ConnectionOptions & OpenTcpStreamOptions & Pick<TLSStreamOptions, 'httpsCompatible'> = {},
): Promise<TLSStream<SocketStream>> {
  const { happyEyeballsDelayMs, localAddress, ...options } = tlsOptions;
  const tcp = await openTcpStream(host, port, {
    ...(happyEyeballsDelayMs !== undefined ? { happyEyeballsDelayMs } : {}),
    ...(localAddress !== undefined ? { localAddress } : {}),
  });
  // SNI carries host names only, never an IP literal.
  return new TLSStream(tcp, { ...(net.isIP(host) !== 0 ? {} : { servername: host }), ...options });
}

export type ServeTlsOverTcpOptions = OpenTcpListenersOptions & ServeListenersOptions;

/**
 * A TLS server: `serveListeners` over `TLSListener`s on `openTcpListeners(port, options)`.
 * `tlsOptions` needs `key` and `cert` (or a `secureContext`). Under `nursery.start` it resolves
 * with the listeners. Never returns; cancel it to stop.
 */
export async function serveTlsOverTcp(
  handler: (stream: TLSStream<SocketStream>) => unknown,
  port: number,
  tlsOptions: tls.TlsOptions & Pick<TLSStreamOptions, 'httpsCompatible'>,
  options?: ServeTlsOverTcpOptions | TaskStatus<TLSListener<SocketStream>[]>,
  taskStatus?: TaskStatus<TLSListener<SocketStream>[]>,
): Promise<never> {
  if (tlsOptions === null || typeof tlsOptions !== 'object') {
    throw new TypeError(`serveTlsOverTcp: tlsOptions must be an object with key and cert, got ${describe(tlsOptions)}`);
  }
  const [opts, status] = optionsAndStatus<ServeTlsOverTcpOptions, TLSListener<SocketStream>[]>('serveTlsOverTcp', options, taskStatus);
  const listeners = (await openTcpListeners(port, opts)).map((l) => new TLSListener(l, tlsOptions));
  return serveListeners(handler, listeners, opts, status);
}
