/**
 * How values travel through a shared channel: a one-byte tag and the payload. Bytes (and
 * Float64Arrays) travel raw, strings as UTF-8, numbers / booleans / null / undefined in a compact form, anything else
 * structured-cloneable through the v8 serializer.
 */
import { deserialize, serialize } from 'node:v8';

export const enum Tag {
  Uint8Array = 1,
  ArrayBuffer = 2,
  String = 3,
  Number = 4,
  True = 5,
  False = 6,
  Null = 7,
  Undefined = 8,
  V8 = 9,
  Float64Array = 10,
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Encoded {
  tag: Tag;
  /**
   * The payload bytes (absent for values the tag alone describes). For a number, 8 bytes that
   * the next `encode` overwrites.
   */
  bytes: Uint8Array | undefined;
}

const scratch: Encoded = { tag: Tag.Null, bytes: undefined };
const numberBytes = new Uint8Array(8);
const numberView = new DataView(numberBytes.buffer);

/** Encodes `value`; the result object is reused, so consume it before the next call. */
export function encode(value: unknown): Encoded {
  scratch.bytes = undefined;
  if (value instanceof Uint8Array) {
    scratch.tag = Tag.Uint8Array;
    scratch.bytes = value;
  } else if (value instanceof ArrayBuffer) {
    scratch.tag = Tag.ArrayBuffer;
    scratch.bytes = new Uint8Array(value);
  } else if (value instanceof Float64Array) {
    scratch.tag = Tag.Float64Array;
    scratch.bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  } else if (typeof value === 'string') {
    scratch.tag = Tag.String;
    scratch.bytes = encoder.encode(value);
  } else if (typeof value === 'number') {
    scratch.tag = Tag.Number;
    numberView.setFloat64(0, value, true);
    scratch.bytes = numberBytes;
  } else if (value === true) {
    scratch.tag = Tag.True;
  } else if (value === false) {
    scratch.tag = Tag.False;
  } else if (value === null) {
    scratch.tag = Tag.Null;
  } else if (value === undefined) {
    scratch.tag = Tag.Undefined;
  } else {
    scratch.tag = Tag.V8;
    scratch.bytes = serialize(value);
  }
  return scratch;
}

const tagNames: Record<number, string> = {
  [Tag.Uint8Array]: 'a Uint8Array',
  [Tag.ArrayBuffer]: 'an ArrayBuffer',
  [Tag.String]: 'a string',
  [Tag.Number]: 'a number',
  [Tag.True]: 'a boolean',
  [Tag.False]: 'a boolean',
  [Tag.Null]: 'null',
  [Tag.Undefined]: 'undefined',
  [Tag.V8]: 'an object',
  [Tag.Float64Array]: 'a Float64Array',
};

/** What kind of value a tag stands for, for error messages. */
export function describeTag(tag: number): string {
  return tagNames[tag] ?? `a value of unknown tag ${tag}`;
}

/** Payload length in bytes for an encoded value. */
export function payloadLength(encoded: Encoded): number {
  return encoded.bytes === undefined ? 0 : encoded.bytes.byteLength;
}

/**
 * Whether the value `decode` makes of a payload with this tag keeps the payload's buffer (bytes
 * and Float64Arrays do): a reader must then hand `decode` a buffer of the value's own, and may
 * hand it a borrowed view otherwise.
 */
export function decodeKeepsPayload(tag: number): boolean {
  return tag === Tag.Uint8Array || tag === Tag.ArrayBuffer || tag === Tag.Float64Array;
}

/**
 * Decodes a payload read from shared memory, which any thread could have written: a length that
 * does not suit the tag, an unknown tag or bytes the v8 deserializer refuses throw a TypeError
 * that says so (the caller fails the one receive or call that read it).
 */
export function decode(tag: Tag, payload: Uint8Array): unknown {
  if (tag === Tag.Number && payload.byteLength !== 8) throw new TypeError(`shared channel: a number frame of ${payload.byteLength} bytes`);
  if (tag === Tag.V8) {
    try {
      return deserialize(payload);
    } catch (error) {
      throw new TypeError(`shared channel: a value could not be decoded (${(error as Error)?.message ?? String(error)})`, { cause: error });
    }
  }
  return decodePlain(tag, payload);
}

function decodePlain(tag: Tag, payload: Uint8Array): unknown {
  switch (tag) {
    case Tag.Uint8Array:
      return payload;
    case Tag.ArrayBuffer:
      // The payload owns its buffer (ring.ts copies each value out on its own): hand it over whole.
      return payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength
        ? payload.buffer
        : payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength);
    case Tag.Float64Array: {
      if (payload.byteLength % 8 !== 0) throw new TypeError(`shared channel: a Float64Array frame of ${payload.byteLength} bytes`);
      // Its own buffer (see ArrayBuffer above); copied only if not 8-aligned in it.
      const own = payload.byteOffset % 8 === 0 ? payload : payload.slice();
      return new Float64Array(own.buffer, own.byteOffset, own.byteLength / 8);
    }
    case Tag.String:
      return decoder.decode(payload);
    case Tag.Number:
      return new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0, true);
    case Tag.True:
      return true;
    case Tag.False:
      return false;
    case Tag.Null:
      return null;
    case Tag.Undefined:
      return undefined;
    default:
      throw new TypeError(`shared channel: a frame with an unknown tag (${String(tag)})`);
  }
}
