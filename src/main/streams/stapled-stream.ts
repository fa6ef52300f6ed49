/** `StapledStream`: one two-way stream made of a send stream and a receive stream. */
import type { HalfCloseableStream, ReceiveStream, SendStream } from './abc.js';
import { isReceiveStream, isSendStream } from './abc.js';
import { receiveChunks } from './receive-chunks.js';
import { describe } from '../core/validate.js';

/**
 * Joins `sendStream` and `receiveStream` into one `HalfCloseableStream` (a subprocess's stdin
 * and stdout, or two one-way memory streams). `sendEof()` calls the send stream's `sendEof` if it
 * has one, otherwise closes it. `aclose()` closes both, even when closing the first fails.
 *
 * ```ts
 * const stream = new StapledStream(process.stdin, process.stdout);
 * ```
 */
export class StapledStream<S extends SendStream = SendStream, R extends ReceiveStream = ReceiveStream>
  implements HalfCloseableStream
{
  constructor(
    readonly sendStream: S,
    readonly receiveStream: R,
  ) {
    if (!isSendStream(sendStream)) {
      throw new TypeError(`StapledStream: sendStream must be a SendStream, got ${describe(sendStream)}`);
    }
    if (!isReceiveStream(receiveStream)) {
      throw new TypeError(`StapledStream: receiveStream must be a ReceiveStream, got ${describe(receiveStream)}`);
    }
  }

  /** `sendStream.sendAll(data)`. */
  sendAll(data: Uint8Array): Promise<void> {
    return this.sendStream.sendAll(data);
  }

  /** `sendStream.waitSendAllMightNotBlock()`. */
  waitSendAllMightNotBlock(): Promise<void> {
    return this.sendStream.waitSendAllMightNotBlock();
  }

  /** The send stream's `sendEof()`, or its `aclose()` when it has none. A checkpoint. */
  sendEof(): Promise<void> {
    const send = this.sendStream as S & Partial<HalfCloseableStream>;
    return typeof send.sendEof === 'function' ? send.sendEof() : send.aclose();
  }

  /** `receiveStream.receiveSome(maxBytes)`. */
  receiveSome(maxBytes?: number): Promise<Uint8Array> {
    return this.receiveStream.receiveSome(maxBytes);
  }

  /** Closes the send stream, then the receive stream (even if the first close fails). */
  async aclose(): Promise<void> {
    try {
      await this.sendStream.aclose();
    } finally {
      await this.receiveStream.aclose();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return receiveChunks(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}
