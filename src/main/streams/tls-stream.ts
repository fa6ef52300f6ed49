/**
 * TLS over any triode stream: `TLSStream`, `TLSListener`, `openTlsOverTcpStream`,
 * `serveTlsOverTcp`.
 *
 * Node's TLS engine (`tls.TLSSocket`) works on a Node Duplex, so a TLSStream gives it one whose
 * other end is the transport stream: two small system tasks move ciphertext — one sends what the
 * engine writes (`transport.sendAll`, its completion is the engine's write callback, so
 * backpressure reaches the plaintext writer), one receives only while the engine asks for more
 * (`transport.receiveSome`, so an idle reader stops reading the transport). The plaintext side
 * is a `SocketStream` over the TLSSocket, so every guarantee of socket streams holds here too.
 * The transport can be a `SocketStream`, a memory stream, a subprocess's pipes, or another
 * TLSStream.
 *
 * The handshake is lazy: it runs on its own once the stream exists, and the first
 * `sendAll`/`receiveSome` waits for it; `doHandshake()` waits for it explicitly (and reports a
 * failed handshake). `aclose()` sends close-notify, then closes the transport; `acloseForcefully`
 * skips the close-notify.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { isCancellation, type BrokenResourceError } from '../../shared/errors.js';
import { brokenConnection, closedConnection } from './connection-errors.js';
import { CancelScope } from '../core/cancel-scope.js';
import { cancelPoint, checkpoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import type { TaskStatus } from '../core/nursery.js';
import { Abort, blockTask } from '../core/traps.js';
import { checkOptions, describe } from '../core/validate.js';
import { Event } from '../sync/event.js';
import type { Listener, Stream } from './abc.js';
import { isReceiveStream, isSendStream } from './abc.js';
import { ConflictDetector } from '../sync/conflict-detector.js';
import { receiveChunks } from './receive-chunks.js';
import { optionsAndStatus, serveListeners, type ServeListenersOptions } from './serve.js';
import { ParkingLot } from '../sync/parking-lot.js';
import type { SocketListener } from './socket-listener.js';
import { SocketStream } from './socket-stream.js';
import { openTcpListeners, openTcpStream, type OpenTcpListenersOptions, type OpenTcpStreamOptions } from './tcp.js';

const EMPTY = new Uint8Array(0);

/** The Duplex the TLS engine reads ciphertext from and writes ciphertext to. */
class CiphertextDuplex extends Duplex {
  readonly outgoing: { chunk: Buffer; callback: (error?: Error | null) => void }[] = [];
  readWanted = false;
  readonly writer = new ParkingLot();
  readonly reader = new ParkingLot();

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.outgoing.push({ chunk, callback });
    this.writer.unparkAll();
  }

  override _read(): void {
    this.readWanted = true;
    this.reader.unparkAll();
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const { callback: cb } of this.outgoing.splice(0)) cb(error ?? new Error('the TLS transport was closed'));
    this.writer.unparkAll();
    this.reader.unparkAll();
    callback(error);
  }
}

export interface TLSStreamOptions extends tls.ConnectionOptions {
  /** True for the server end of the connection (then `key`/`cert` or `secureContext` are needed). */
  serverSide?: boolean;
}

/** A TLS connection over a triode `Stream`. */
export class TLSStream<T extends Stream = Stream> implements Stream {
  /** The stream carrying the ciphertext. Do not use it while the TLSStream is open. */
  readonly transportStream: T;
  /** Node's TLS socket (for `getPeerCertificate()`, `alpnProtocol`, `getProtocol()`, …). */
  readonly tlsSocket: tls.TLSSocket;
  private readonly plain: SocketStream;
  private readonly duplex = new CiphertextDuplex();
  private readonly pumps = [new CancelScope(), new CancelScope()];
  private readonly pumpsDone: Event[] = [new Event(), new Event()];
  private readonly unwrapConflict = new ConflictDetector('this TLSStream is already being unwrapped');
  private closed = false;
  private secure = false;
  /** The writer pump is inside `transport.sendAll` (the transport is not taking data right now). */
  private sending = false;
  /** The event that says the handshake succeeded: a client's certificate check comes after 'secure'. */
  private readonly secureEvent: 'secure' | 'secureConnect';
  private failure: Error | undefined;

  /**
   * Starts TLS over `transport` (client side unless `serverSide`). Not a checkpoint; the
   * handshake runs in the background from here on. Must be called inside `run()`.
   */
  constructor(transport: T, options: TLSStreamOptions = {}) {
    if (!isSendStream(transport) || !isReceiveStream(transport)) {
      throw new TypeError(`TLSStream: transport must be a triode Stream, got ${describe(transport)}`);
    }
    options = checkOptions('TLSStream', options);
    const runner = currentContext('new TLSStream').task.runner;
    this.transportStream = transport;
    const { serverSide, ...tlsOptions } = options;
    this.tlsSocket = serverSide
      ? new tls.TLSSocket(this.duplex as never, { ...tlsOptions, isServer: true })
      : tls.connect({ ...tlsOptions, socket: this.duplex });
    this.secureEvent = serverSide ? 'secure' : 'secureConnect';
    this.tlsSocket.once(this.secureEvent, () => (this.secure = true));
    this.tlsSocket.on('error', (error: Error) => (this.failure ??= error));
    this.plain = new SocketStream(this.tlsSocket);
    runner.spawnSystemTask(() => this.pump(0, () => this.sendCiphertext()), [], 'TLSStream writer');
    runner.spawnSystemTask(() => this.pump(1, () => this.receiveCiphertext()), [], 'TLSStream reader');
  }

  /** Runs one ciphertext pump until the stream closes; a transport failure breaks the TLS socket. */
  private async pump(index: number, loop: () => Promise<void>): Promise<void> {
    try {
      await this.pumps[index]!.run(loop);
    } catch (error) {
      if (!isCancellation(error) && !this.closed) {
        this.duplex.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    } finally {
      this.pumpsDone[index]!.set();
    }
  }

  private async sendCiphertext(): Promise<void> {
    const ctx = currentContext('TLSStream writer');
    for (;;) {
      while (this.duplex.outgoing.length === 0) await this.duplex.writer.parkWait(ctx, 'TLSStream writer').promise;
      const batch = this.duplex.outgoing.splice(0);
      const data = batch.length === 1 ? batch[0]!.chunk : Buffer.concat(batch.map((b) => b.chunk));
      this.sending = true;
      try {
        await this.transportStream.sendAll(data);
      } catch (error) {
        for (const { callback } of batch) callback(error as Error);
        throw error;
      } finally {
        this.sending = false;
      }
      for (const { callback } of batch) callback();
    }
  }

  private async receiveCiphertext(): Promise<void> {
    const ctx = currentContext('TLSStream reader');
    for (;;) {
      while (!this.duplex.readWanted) await this.duplex.reader.parkWait(ctx, 'TLSStream reader').promise;
      // The peer's close-notify has been read: TLS is over in that direction, and whatever comes
      // next on the transport is not ours to read (after unwrap it is the clear protocol's).
      if (this.peerClosedTls()) return;
      const chunk = await this.transportStream.receiveSome();
      if (chunk.length === 0) {
        if (!this.secure) throw brokenConnection('the transport reached its end before the TLS handshake finished');
        this.duplex.push(null);
        return;
      }
      this.duplex.readWanted = this.duplex.push(chunk);
    }
  }

  /**
   * Whether the TLS engine has read the peer's close-notify. The engine ends the plaintext side
   * (push(null)) synchronously while it processes the record, which the reader pump's push of
   * that record triggers; `readableEnded` would only say so once the plaintext was consumed.
   */
  private peerClosedTls(): boolean {
    const state = (this.tlsSocket as unknown as { _readableState?: { ended?: boolean } })._readableState;
    return state?.ended === true;
  }

  private brokenError(): BrokenResourceError {
    return brokenConnection(`the TLS connection broke: ${this.failure?.message ?? 'closed'}`, { cause: this.failure });
  }

  /**
   * Waits until the handshake is done; raises `BrokenResourceError` (cause: the TLS error) if it
   * failed. Idempotent. A checkpoint; cancelling it does not stop the handshake.
   */
  async doHandshake(): Promise<void> {
    const ctx = currentContext('TLSStream.doHandshake');
    cancelPoint(ctx);
    if (this.closed) throw closedConnection('this TLSStream was closed');
    while (!this.secure) {
      if (this.failure !== undefined || this.tlsSocket.destroyed) throw this.brokenError();
      const wake = (): void => {
        cleanup();
        wait.reschedule(undefined);
      };
      const cleanup = (): void => {
        this.tlsSocket.off(this.secureEvent, wake).off('error', wake).off('close', wake);
      };
      const wait = blockTask(ctx, () => {
        cleanup();
        return Abort.SUCCEEDED;
      }, 'TLSStream.doHandshake');
      this.tlsSocket.once(this.secureEvent, wake).once('error', wake).once('close', wake);
      await wait.promise;
    }
    await checkpoint();
  }

  /** Encrypts and sends every byte of `data` (after the handshake). As `SocketStream.sendAll`. */
  sendAll(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(closedConnection('this TLSStream was closed'));
    return this.plain.sendAll(data);
  }

  /** As `SocketStream.waitSendAllMightNotBlock`. */
  waitSendAllMightNotBlock(): Promise<void> {
    if (this.closed) return Promise.reject(closedConnection('this TLSStream was closed'));
    return this.plain.waitSendAllMightNotBlock();
  }

  /**
   * Returns 1 to `maxBytes` bytes of plaintext; an empty array once the peer closed TLS (sent
   * close-notify, or closed the transport). A cancelled call consumes nothing.
   */
  receiveSome(maxBytes?: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(closedConnection('this TLSStream was closed'));
    return this.plain.receiveSome(maxBytes);
  }

  /**
   * Sends close-notify and waits until it has been handed to the transport. With
   * `skipWhileSending` (aclose) it is skipped, as Trio does, while the transport is in a send:
   * the peer may not be reading, and waiting for it would make `aclose` hang.
   */
  private async sendCloseNotify(skipWhileSending: boolean): Promise<void> {
    if (!this.secure || this.failure !== undefined || this.tlsSocket.destroyed) return;
    if (skipWhileSending && this.sending) return;
    if (!this.tlsSocket.writableEnded) this.tlsSocket.end();
    if (this.duplex.writableFinished) return;
    const ctx = currentContext('TLSStream.aclose');
    const done = (): void => {
      this.duplex.off('finish', done).off('close', done);
      if (!wait.isSettled) wait.reschedule(undefined);
    };
    const wait = blockTask(ctx, () => {
      this.duplex.off('finish', done).off('close', done);
      return Abort.SUCCEEDED;
    }, 'TLSStream close-notify');
    this.duplex.once('finish', done).once('close', done);
    await wait.promise;
  }

  /**
   * Sends close-notify (skipped when cancelled: use `acloseForcefully` to skip it on purpose),
   * then closes the TLS socket and the transport. Idempotent. Closes even when cancelled.
   */
  async aclose(): Promise<void> {
    if (this.closed) {
      await checkpoint();
      return;
    }
    // A close-notify can only go out once the handshake is done: finish it first (as Trio does),
    // so a peer that is still handshaking sees a clean end rather than a broken connection. A
    // cancelled caller (acloseForcefully) skips both and closes at once, then raises.
    let handshakeError: unknown;
    if (!this.secure && this.failure === undefined && !this.tlsSocket.destroyed) {
      try {
        await this.doHandshake();
      } catch (error) {
        handshakeError = error;
      }
    }
    this.closed = true;
    try {
      if (handshakeError === undefined) await this.sendCloseNotify(true);
    } finally {
      try {
        await this.plain.aclose();
      } finally {
        for (const scope of this.pumps) scope.cancel('the TLSStream was closed');
        await this.transportStream.aclose();
      }
    }
    if (isCancellation(handshakeError)) throw handshakeError;
  }

  /**
   * Ends TLS and hands back the transport: sends close-notify, waits for the peer's, stops the
   * ciphertext pumps, and returns `[transportStream, trailingBytes]`. Plaintext the peer still
   * sends before its close-notify raises `BrokenResourceError`. `trailingBytes` is always empty:
   * Node's TLS engine keeps any bytes it read past the close-notify, so a protocol that continues
   * in the clear must wait for the peer to acknowledge first. A checkpoint.
   */
  async unwrap(): Promise<[T, Uint8Array]> {
    this.unwrapConflict.enter();
    try {
      if (this.closed) throw closedConnection('this TLSStream was closed');
      await this.doHandshake();
      // Not skipped while the writer pump is mid-send, as aclose may: unwrap must send it (the
      // peer waits for it), and it waits for the peer's anyway.
      await this.sendCloseNotify(false);
      const rest = await this.plain.receiveSome();
      if (rest.length > 0) throw brokenConnection('unwrap: the peer sent data instead of closing TLS');
      this.closed = true;
      for (const scope of this.pumps) scope.cancel('the TLSStream was unwrapped');
      for (const done of this.pumpsDone) await done.wait();
      this.tlsSocket.destroy();
      return [this.transportStream, EMPTY];
    } finally {
      this.unwrapConflict.exit();
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
    readonly tlsOptions: tls.TlsOptions,
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
  tlsOptions: tls.ConnectionOptions & OpenTcpStreamOptions = {},
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
  tlsOptions: tls.TlsOptions,
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
