/**
 * How values travel through a shared channel: a one-byte tag and the payload. Bytes travel raw,
 * strings as UTF-8, numbers / booleans / null / undefined in a compact form, anything else
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
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Encoded {
  tag: Tag;
  /** The payload bytes (absent for values the tag alone describes). */
  bytes: Uint8Array | undefined;
  /** For numbers, the value itself (written as 8 bytes). */
  number: number;
}

const scratch: Encoded = { tag: Tag.Null, bytes: undefined, number: 0 };

/** Encodes `value`; the result object is reused, so consume it before the next call. */
export function encode(value: unknown): Encoded {
  scratch.bytes = undefined;
  scratch.number = 0;
  if (value instanceof Uint8Array) {
    scratch.tag = Tag.Uint8Array;
    scratch.bytes = value;
  } else if (value instanceof ArrayBuffer) {
    scratch.tag = Tag.ArrayBuffer;
    scratch.bytes = new Uint8Array(value);
  } else if (typeof value === 'string') {
    scratch.tag = Tag.String;
    scratch.bytes = encoder.encode(value);
  } else if (typeof value === 'number') {
    scratch.tag = Tag.Number;
    scratch.number = value;
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
};

/** What kind of value a tag stands for, for error messages. */
export function describeTag(tag: number): string {
  return tagNames[tag] ?? `a value of unknown tag ${tag}`;
}

/** Payload length in bytes for an encoded value. */
export function payloadLength(encoded: Encoded): number {
  return encoded.tag === Tag.Number ? 8 : encoded.bytes === undefined ? 0 : encoded.bytes.byteLength;
}

export function decode(tag: Tag, payload: Uint8Array): unknown {
  switch (tag) {
    case Tag.Uint8Array:
      return payload;
    case Tag.ArrayBuffer:
      return payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength);
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
    case Tag.V8:
      return deserialize(payload);
    default:
      throw new Error(`shared channel: unknown value tag ${String(tag)}`);
  }
}
