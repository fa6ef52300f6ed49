/** The async iterator every `ReceiveStream` in triode shares: chunks until end of stream. */
import type { ReceiveStream } from './abc.js';
import { describe } from '../core/validate.js';

/** Default `maxBytes` of `receiveSome` and of iteration: 64 KiB, the size Node reads sockets in. */
export const DEFAULT_RECEIVE_SIZE = 65_536;

/**
 * Chunks from `stream.receiveSome()` until it returns an empty one (end of stream). A plain
 * iterator rather than an async generator: one promise per chunk instead of several.
 */
export function receiveChunks(stream: ReceiveStream, maxBytes = DEFAULT_RECEIVE_SIZE): AsyncIterableIterator<Uint8Array> {
  let done = false;
  const iterator: AsyncIterableIterator<Uint8Array> = {
    async next(): Promise<IteratorResult<Uint8Array, undefined>> {
      if (done) return { value: undefined, done: true };
      const chunk = await stream.receiveSome(maxBytes);
      if (chunk.length > 0) return { value: chunk, done: false };
      done = true;
      return { value: undefined, done: true };
    },
    async return(): Promise<IteratorResult<Uint8Array, undefined>> {
      done = true;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** `maxBytes` of a `receiveSome`: a positive integer, default 64 KiB. */
export function checkMaxBytes(where: string, maxBytes: number | undefined): number {
  if (maxBytes === undefined) return DEFAULT_RECEIVE_SIZE;
  if (typeof maxBytes !== 'number') {
    throw new TypeError(`${where}: maxBytes must be a number, got ${typeof maxBytes}`);
  }
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`${where}: maxBytes must be a positive integer, got ${maxBytes}`);
  }
  return maxBytes;
}

/** `data` of a `sendAll`: a Uint8Array (a Buffer is one). */
export function checkData(where: string, data: unknown): Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`${where}: data must be a Uint8Array, got ${describe(data)}`);
  }
  return data;
}
