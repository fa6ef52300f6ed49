/**
 * The stream interfaces (Trio's `trio.abc`): what every byte stream in triode offers, so that
 * code written against them (a protocol, a TLS layer, the test kit) works over TCP, TLS, Unix
 * sockets, subprocess pipes and in-memory pairs alike.
 *
 * Data is `Uint8Array`. Every method is a checkpoint. A stream allows one `sendAll` and one
 * `receiveSome` at a time (a second concurrent call raises `BusyResourceError`); using a stream
 * you closed raises `ClosedResourceError`; a stream its peer broke raises `BrokenResourceError`.
 */

/** Something that must be closed: `aclose()` is idempotent and closes even when cancelled. */
export interface AsyncResource {
  /**
   * Closes the resource. Idempotent. A checkpoint, but the resource is closed even when the
   * caller is cancelled or the close fails (then the error or `Cancelled` is raised after).
   */
  aclose(): Promise<void>;
}

/** The sending half of a byte stream. */
export interface SendStream extends AsyncResource {
  /**
   * Sends every byte of `data`, waiting while the peer (or the kernel buffer) is full: this is
   * backpressure. Do not modify `data` until it returns. A cancelled `sendAll` leaves the stream
   * in an unknown state (some of `data` may be sent): close it.
   */
  sendAll(data: Uint8Array): Promise<void>;
  /** Waits until a `sendAll` would probably not block. A checkpoint; cancellation is harmless. */
  waitSendAllMightNotBlock(): Promise<void>;
}

/** The receiving half of a byte stream; `for await (const chunk of stream)` reads to the end. */
export interface ReceiveStream extends AsyncResource, AsyncIterable<Uint8Array> {
  /**
   * Waits for data and returns between 1 and `maxBytes` bytes of it; an empty array only at end
   * of stream (and then on every later call). A cancelled `receiveSome` consumes nothing.
   */
  receiveSome(maxBytes?: number): Promise<Uint8Array>;
}

/** A two-way byte stream. */
export interface Stream extends SendStream, ReceiveStream {}

/** A stream whose sending side can be closed on its own, leaving the receiving side open. */
export interface HalfCloseableStream extends Stream {
  /**
   * Closes the sending side: the peer's `receiveSome` returns end of stream once it has read
   * everything sent before. Idempotent; a later `sendAll` raises `ClosedResourceError`.
   */
  sendEof(): Promise<void>;
}

/** Accepts incoming connections. */
export interface Listener<S extends AsyncResource = Stream> extends AsyncResource {
  /** Waits for the next connection. A checkpoint; a cancelled `accept` loses no connection. */
  accept(): Promise<S>;
}

/** True when `value` looks like a `ReceiveStream`/`SendStream`/`Stream` (duck-typed). */
export function isSendStream(value: unknown): value is SendStream {
  return typeof (value as SendStream | null)?.sendAll === 'function' && typeof (value as SendStream).aclose === 'function';
}
export function isReceiveStream(value: unknown): value is ReceiveStream {
  return typeof (value as ReceiveStream | null)?.receiveSome === 'function' && typeof (value as ReceiveStream).aclose === 'function';
}
