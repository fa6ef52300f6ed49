/**
 * How a worker call's job and its outcome are laid out in a ring frame: encoded in one place,
 * decoded in one place, and the decoder trusts nothing.
 *
 * A job frame's payload:
 *
 *     [0]      KIND: BY_ID (the export is an id in the pool's export table), BY_NAME (url and
 *              export name follow as strings), or SIDE (the job waits on the main thread)
 *     [1]      FORM of the arguments: FAST (each a tag and its bytes), V8 (v8.serialize of the
 *              array), or V8_LOCALS (v8.serialize of `[args, locals]`: the caller's cross-thread
 *              TaskLocal values as `[name, value]` pairs)
 *     [2]      FLAGS: KILLABLE (the caller may terminate the thread when it cancels the call)
 *     [3]      REPLY_TO: the reply ring the outcome goes to (0: the main thread's, i + 1: thread i's)
 *     [4..8)   the export's id (BY_ID)
 *     then     BY_NAME: u16 url length, u16 name length, url, name (UTF-8); then the arguments
 *
 * FAST covers what most calls pass — numbers, strings, booleans, null, undefined — and costs a
 * few dozen ns per argument, against ~1–2 µs for the v8 serializer. An outcome is the same: [0]
 * OK or FAILED, [1] the form, then one value.
 *
 * The export table (one per pool, in a SharedArrayBuffer written by the main thread only) maps
 * ids to `url` and export name, so a job carries 8 bytes instead of a ~100-byte URL. Word 0 holds
 * how many bytes of entries are published; an entry is written first and published with one
 * `Atomics.store` of that word, before any job naming the id is published in the ring (whose own
 * TAIL store orders it), so a thread that reads a job can always find its export.
 */
import { deserialize, serialize } from 'node:v8';
import type { Job } from './scheduler.js';

export const KIND_BY_ID = 0;
export const KIND_BY_NAME = 1;
export const KIND_SIDE = 2;
const FORM_FAST = 0;
const FORM_V8 = 1;
const FORM_V8_LOCALS = 2;
const FLAG_KILLABLE = 1;

const T_NUMBER = 1;
const T_STRING = 2;
const T_TRUE = 3;
const T_FALSE = 4;
const T_NULL = 5;
const T_UNDEFINED = 6;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A growable scratch buffer: what encoders write into before the ring copies it. */
class Scratch {
  bytes = new Uint8Array(4096);
  view = new DataView(this.bytes.buffer);
  length = 0;

  reset(): void {
    this.length = 0;
  }

  reserve(n: number): void {
    if (this.length + n <= this.bytes.byteLength) return;
    const bigger = new Uint8Array(Math.max(this.bytes.byteLength * 2, this.length + n));
    bigger.set(this.bytes.subarray(0, this.length));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }

  u8(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  u16(value: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  f64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  string(value: string): void {
    // UTF-8 is at most 3 bytes per UTF-16 unit.
    this.reserve(4 + value.length * 3);
    const { written } = encoder.encodeInto(value, this.bytes.subarray(this.length + 4));
    this.view.setUint32(this.length, written, true);
    this.length += 4 + written;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.bytes.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  /** What was written (a view: consume it before the next encode). */
  get written(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

const scratch = new Scratch();

/** Whether `value` travels in the FAST form. */
function isFast(value: unknown): boolean {
  const type = typeof value;
  return type === 'number' || type === 'string' || type === 'boolean' || value === null || value === undefined;
}

function writeFast(out: Scratch, value: unknown): void {
  if (typeof value === 'number') {
    out.u8(T_NUMBER);
    out.f64(value);
  } else if (typeof value === 'string') {
    out.u8(T_STRING);
    out.string(value);
  } else if (value === true) out.u8(T_TRUE);
  else if (value === false) out.u8(T_FALSE);
  else if (value === null) out.u8(T_NULL);
  else out.u8(T_UNDEFINED);
}

/**
 * A DataView over the whole buffer a payload lies in. Payloads are mostly views of one scratch
 * buffer, so the view is made once per buffer, not once per frame.
 */
let lastBuffer: ArrayBufferLike | undefined;
let lastView: DataView | undefined;
function viewOf(buffer: ArrayBufferLike): DataView {
  if (buffer !== lastBuffer) {
    lastView = new DataView(buffer);
    lastBuffer = buffer;
  }
  return lastView!;
}

/** Reads FAST values from a payload, checking every length against what is there. */
class Reader {
  /** Where the next value starts, counted from the start of `bytes`. */
  private offset: number;
  private readonly view: DataView;
  /** `bytes`' offset in `view`. */
  private readonly base: number;

  constructor(
    private readonly bytes: Uint8Array,
    offset: number,
  ) {
    this.offset = offset;
    this.view = viewOf(bytes.buffer);
    this.base = bytes.byteOffset;
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.byteLength) throw new TypeError('triode: a truncated frame');
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.base + this.offset, true);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.base + this.offset, true);
    this.offset += 4;
    return v;
  }

  utf8(length: number): string {
    this.need(length);
    const text = decoder.decode(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return text;
  }

  value(): unknown {
    switch (this.u8()) {
      case T_NUMBER: {
        this.need(8);
        const v = this.view.getFloat64(this.base + this.offset, true);
        this.offset += 8;
        return v;
      }
      case T_STRING:
        return this.utf8(this.u32());
      case T_TRUE:
        return true;
      case T_FALSE:
        return false;
      case T_NULL:
        return null;
      case T_UNDEFINED:
        return undefined;
      default:
        throw new TypeError('triode: a frame with an unknown value tag');
    }
  }

  /** The rest, through the v8 deserializer. */
  v8(): unknown {
    try {
      return deserialize(this.bytes.subarray(this.offset));
    } catch (error) {
      throw new TypeError(`could not be decoded on the receiving thread (${(error as Error)?.message ?? String(error)})`, { cause: error });
    }
  }
}

// ---- jobs ----------------------------------------------------------------------------------------

/** Which export a job calls: an id in the export table, or its names. */
export type ExportRef = number | { readonly url: string; readonly exportName: string };

/**
 * The payload of a job frame, or undefined when the arguments cannot be serialized here (shared
 * memory: they take the side path) or are larger than `maxBytes`. The result is a view of a
 * scratch buffer: write it into the ring before encoding anything else.
 */
export function encodeJob(
  ref: ExportRef,
  args: readonly unknown[],
  maxBytes: number,
  locals?: ReadonlyArray<readonly [string, unknown]>,
  killable = false,
  replyTo = 0,
): Uint8Array | undefined {
  const out = scratch;
  out.reset();
  out.u8(typeof ref === 'number' ? KIND_BY_ID : KIND_BY_NAME);
  const fast = locals === undefined && args.length < 256 && args.every(isFast);
  out.u8(fast ? FORM_FAST : locals === undefined ? FORM_V8 : FORM_V8_LOCALS);
  out.u8(killable ? FLAG_KILLABLE : 0);
  out.u8(replyTo);
  if (typeof ref === 'number') {
    out.u32(ref);
  } else {
    const url = encoder.encode(ref.url);
    const name = encoder.encode(ref.exportName);
    if (url.byteLength > 0xffff || name.byteLength > 0xffff) return undefined;
    out.u16(url.byteLength);
    out.u16(name.byteLength);
    out.raw(url);
    out.raw(name);
  }
  if (fast) {
    out.u8(args.length);
    for (const arg of args) writeFast(out, arg);
  } else {
    try {
      out.raw(serialize(locals === undefined ? args : [args, locals]));
    } catch {
      return undefined; // SharedArrayBuffers, MessagePorts: only postMessage carries them
    }
  }
  return out.length <= maxBytes ? out.written : undefined;
}

/** The payload of a job frame whose arguments wait on the main thread. */
export function encodeSideJob(killable = false, replyTo = 0): Uint8Array {
  return Uint8Array.of(KIND_SIDE, FORM_FAST, killable ? FLAG_KILLABLE : 0, replyTo);
}

/** A decoded job frame. */
export type DecodedJob =
  | { readonly side: true; readonly killable: boolean; readonly replyTo: number }
  | {
      readonly side: false;
      readonly killable: boolean;
      readonly replyTo: number;
      readonly ref: ExportRef;
      readonly args: unknown[];
      readonly locals: Array<[string, unknown]> | undefined;
    };

/** Checks the shape of a side-path job message that came from another thread. */
export function checkSideJob(message: { url?: unknown; exportName?: unknown; args?: unknown; locals?: unknown }): Job {
  const { url, exportName, args, locals } = message;
  if (typeof url !== 'string' || typeof exportName !== 'string' || !Array.isArray(args)) {
    throw new TypeError('triode: a malformed job');
  }
  return { url, exportName, args, locals: locals === undefined ? undefined : checkLocals(locals) };
}

/** Checks `[name, value]` pairs of TaskLocal values that came from another thread. */
export function checkLocals(value: unknown): Array<[string, unknown]> {
  if (!Array.isArray(value) || !value.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string')) {
    throw new TypeError('triode: malformed TaskLocal values came with a job');
  }
  return value as Array<[string, unknown]>;
}

/** Decodes a job frame's payload; a TypeError for anything malformed (it fails this job only). */
export function decodeJob(payload: Uint8Array): DecodedJob {
  const read = new Reader(payload, 0);
  const kind = read.u8();
  const form = read.u8();
  const killable = (read.u8() & FLAG_KILLABLE) !== 0;
  const replyTo = read.u8();
  if (kind === KIND_SIDE) return { side: true, killable, replyTo };
  let ref: ExportRef;
  if (kind === KIND_BY_ID) {
    ref = read.u32();
  } else if (kind === KIND_BY_NAME) {
    const urlLength = read.u16();
    const nameLength = read.u16();
    ref = { url: read.utf8(urlLength), exportName: read.utf8(nameLength) };
  } else {
    throw new TypeError('triode: a malformed job');
  }
  let args: unknown[];
  let locals: Array<[string, unknown]> | undefined;
  if (form === FORM_FAST) {
    const count = read.u8();
    args = new Array(count);
    for (let i = 0; i < count; i++) args[i] = read.value();
  } else if (form === FORM_V8) {
    const value = read.v8();
    if (!Array.isArray(value)) throw new TypeError('triode: a malformed job');
    args = value;
  } else if (form === FORM_V8_LOCALS) {
    const value = read.v8();
    if (!Array.isArray(value) || value.length !== 2 || !Array.isArray(value[0])) throw new TypeError('triode: a malformed job');
    args = value[0] as unknown[];
    locals = checkLocals(value[1]);
  } else {
    throw new TypeError('triode: a malformed job');
  }
  return { side: false, killable, replyTo, ref, args, locals };
}

// ---- outcomes ------------------------------------------------------------------------------------

/** How a job ended, as it crosses back: a value, or an error in its wire form (error-wire.ts). */
export type JobOutcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

const OK = 1;
const FAILED = 2;

/** Encodes an outcome (a view of a scratch buffer, like encodeJob's); throws when it cannot be serialized. */
export function encodeOutcome(outcome: JobOutcome): Uint8Array {
  const out = scratch;
  out.reset();
  const value = outcome.ok ? outcome.value : outcome.error;
  out.u8(outcome.ok ? OK : FAILED);
  const fast = isFast(value);
  out.u8(fast ? FORM_FAST : FORM_V8);
  if (fast) writeFast(out, value);
  else out.raw(serialize(value));
  return out.written;
}

/** Decodes a result that came from another thread; a TypeError naming what went wrong otherwise. */
export function decodeOutcome(payload: Uint8Array): JobOutcome {
  const read = new Reader(payload, 0);
  const status = read.u8();
  const form = read.u8();
  if ((status !== OK && status !== FAILED) || (form !== FORM_FAST && form !== FORM_V8)) throw new TypeError('a malformed result came back');
  let value: unknown;
  try {
    value = form === FORM_FAST ? read.value() : read.v8();
  } catch (error) {
    throw new TypeError(`result ${(error as Error).message}`, { cause: error });
  }
  return status === OK ? { ok: true, value } : { ok: false, error: value };
}

// ---- the export table ----------------------------------------------------------------------------

const TABLE_BYTES = 256 * 1024;

export function createExportTable(): SharedArrayBuffer {
  return new SharedArrayBuffer(TABLE_BYTES);
}

/** The main thread's side: ids for (url, export name) pairs, published before first use. */
export class ExportTableWriter {
  /** url → export name → id. */
  private readonly ids = new Map<string, Map<string, number>>();
  private count = 0;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private used = 4;

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab, 0, 1);
    this.bytes = new Uint8Array(sab);
    this.view = new DataView(sab);
  }

  /** The id of the pair, published now if new; the names themselves when the table is full. */
  refOf(url: string, exportName: string): ExportRef {
    let byName = this.ids.get(url);
    if (byName === undefined) this.ids.set(url, (byName = new Map()));
    const known = byName.get(exportName);
    if (known !== undefined) return known;
    const urlBytes = encoder.encode(url);
    const nameBytes = encoder.encode(exportName);
    const size = (12 + urlBytes.byteLength + nameBytes.byteLength + 3) & ~3;
    if (this.used + size > this.bytes.byteLength || urlBytes.byteLength > 0xffff || nameBytes.byteLength > 0xffff) {
      return { url, exportName };
    }
    const id = this.count++;
    const at = this.used;
    this.view.setUint32(at, id, true);
    this.view.setUint32(at + 4, urlBytes.byteLength, true);
    this.view.setUint32(at + 8, nameBytes.byteLength, true);
    this.bytes.set(urlBytes, at + 12);
    this.bytes.set(nameBytes, at + 12 + urlBytes.byteLength);
    this.used += size;
    // Publish: a thread that loads this word sees the entry's bytes.
    Atomics.store(this.words, 0, this.used);
    byName.set(exportName, id);
    return id;
  }
}

/** A pool thread's side: resolves ids, reading entries published since it last looked. */
export class ExportTableReader {
  private readonly entries: Array<{ url: string; exportName: string }> = [];
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private scanned = 4;

  constructor(sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab, 0, 1);
    this.bytes = new Uint8Array(sab);
    this.view = new DataView(sab);
  }

  /** The names of an id; a TypeError for an id nobody published (a forged frame). */
  lookup(id: number): { url: string; exportName: string } {
    let entry = this.entries[id];
    if (entry === undefined) {
      this.scan();
      entry = this.entries[id];
      if (entry === undefined) throw new TypeError(`triode: a job names export ${id}, which was never published`);
    }
    return entry;
  }

  private scan(): void {
    const end = Math.min(Atomics.load(this.words, 0), this.bytes.byteLength);
    while (this.scanned + 12 <= end) {
      const at = this.scanned;
      const id = this.view.getUint32(at, true);
      const urlLength = this.view.getUint32(at + 4, true);
      const nameLength = this.view.getUint32(at + 8, true);
      const size = (12 + urlLength + nameLength + 3) & ~3;
      if (at + size > end) break;
      const url = decoder.decode(this.bytes.slice(at + 12, at + 12 + urlLength));
      const exportName = decoder.decode(this.bytes.slice(at + 12 + urlLength, at + 12 + urlLength + nameLength));
      this.entries[id] = { url, exportName };
      this.scanned += size;
    }
  }
}
