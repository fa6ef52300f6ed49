/**
 * `AsyncFile`: a file opened with `openFile` (or wrapped with `wrapFile`), with async methods
 * that are checkpoints, a position of its own (`seek`), and `for await` over its lines.
 *
 * Cancellation: Node cannot abort a read, write, truncate or sync once started, so each of
 * those completes and `Cancelled` is raised after it (the bytes were read or written; the
 * position moved). `aclose()` closes even when cancelled. One operation at a time: a second
 * concurrent call raises `BusyResourceError` (they would race on the position).
 */
import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import type { PathLike } from 'node:fs';
import { ClosedResourceError } from '../../shared/errors.js';
import { checkpoint } from '../core/checkpoint.js';
import { checkInteger, describe } from '../core/validate.js';
import { ConflictDetector } from '../sync/conflict-detector.js';
import { fsCall } from './fs-call.js';

/** Where `seek` counts from: the start, the current position, or the end of the file. */
export type Whence = 'start' | 'current' | 'end';

const READ_ALL_CHUNK = 65_536;

export class AsyncFile implements AsyncIterable<string> {
  private position = 0;
  private closed = false;
  private readonly conflict = new ConflictDetector('another task is already using this AsyncFile');

  /** @internal use openFile or wrapFile */
  constructor(
    /** The underlying `fs.promises` FileHandle. */
    readonly handle: FileHandle,
    /** True when opened for appending: writes go to the end whatever the position. */
    private readonly append = false,
  ) {}

  /** The file descriptor. */
  get fd(): number {
    return this.handle.fd;
  }

  private async op<T>(where: string, fn: () => Promise<T>): Promise<T> {
    this.conflict.enter();
    try {
      if (this.closed) throw new ClosedResourceError('this AsyncFile was closed');
      return await fsCall(`AsyncFile.${where}`, fn);
    } finally {
      this.conflict.exit();
    }
  }

  /**
   * Reads up to `size` bytes from the position (default: to the end of the file) and moves the
   * position past them. An empty array at the end of the file. A checkpoint.
   */
  async read(size?: number): Promise<Uint8Array> {
    if (size !== undefined) checkInteger('AsyncFile.read', 'size', size, 0);
    return this.op('read', async () => {
      if (size !== undefined) {
        const buffer = Buffer.allocUnsafe(size);
        const { bytesRead } = await this.handle.read(buffer, 0, size, this.position);
        this.position += bytesRead;
        return buffer.subarray(0, bytesRead);
      }
      const parts: Buffer[] = [];
      for (;;) {
        const buffer = Buffer.allocUnsafe(READ_ALL_CHUNK);
        const { bytesRead } = await this.handle.read(buffer, 0, READ_ALL_CHUNK, this.position);
        if (bytesRead === 0) break;
        this.position += bytesRead;
        parts.push(buffer.subarray(0, bytesRead));
      }
      return Buffer.concat(parts);
    });
  }

  /** Reads (like `read`) and decodes as UTF-8. */
  async readText(size?: number): Promise<string> {
    return new TextDecoder().decode(await this.read(size));
  }

  /** Writes all of `data` (a string is written as UTF-8) at the position; returns the byte count. A checkpoint. */
  async write(data: Uint8Array | string): Promise<number> {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`AsyncFile.write: data must be a Uint8Array or a string, got ${describe(data)}`);
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.op('write', async () => {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, this.append ? null : this.position + written);
        written += bytesWritten;
      }
      this.position = this.append ? (await this.handle.stat()).size : this.position + written;
      return written;
    });
  }

  /** Moves the position to `offset` counted from `whence` (default 'start'); returns the new position. */
  async seek(offset: number, whence: Whence = 'start'): Promise<number> {
    if (!Number.isInteger(offset)) throw new TypeError(`AsyncFile.seek: offset must be an integer, got ${describe(offset)}`);
    if (whence !== 'start' && whence !== 'current' && whence !== 'end') {
      throw new TypeError(`AsyncFile.seek: whence must be 'start', 'current' or 'end', got ${describe(whence)}`);
    }
    return this.op('seek', async () => {
      const base = whence === 'start' ? 0 : whence === 'current' ? this.position : (await this.handle.stat()).size;
      if (base + offset < 0) throw new RangeError(`AsyncFile.seek: the position would be negative (${base + offset})`);
      this.position = base + offset;
      return this.position;
    });
  }

  /** The current position. Not a checkpoint. */
  tell(): number {
    return this.position;
  }

  /** Cuts (or extends with zeros) the file to `length` bytes (default: the position). A checkpoint. */
  async truncate(length?: number): Promise<void> {
    if (length !== undefined) checkInteger('AsyncFile.truncate', 'length', length, 0);
    return this.op('truncate', () => this.handle.truncate(length ?? this.position));
  }

  /** Flushes the file's data and metadata to the disk (fsync). A checkpoint. */
  async sync(): Promise<void> {
    return this.op('sync', () => this.handle.sync());
  }

  /** Closes the file. Idempotent; closes even when cancelled (then raises `Cancelled` after). */
  async aclose(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close();
    }
    await checkpoint();
  }

  /**
   * The lines from the position to the end of the file, as UTF-8 strings without their line
   * terminator (`\n` or `\r\n`), read 64 KiB at a time. Each step is a checkpoint.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<string, void, undefined> {
    const decoder = new TextDecoder();
    let pending = '';
    for (;;) {
      const chunk = await this.read(READ_ALL_CHUNK);
      if (chunk.length === 0) break;
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        yield line.endsWith('\r') ? line.slice(0, -1) : line;
      }
    }
    pending += decoder.decode();
    if (pending.length > 0) yield pending;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.aclose();
  }
}

/**
 * Opens `path` with `flags` (as `fs.open`: 'r' by default, 'w', 'a', 'r+', 'wx', …) and returns
 * an `AsyncFile`. A checkpoint; if cancelled while opening, the file is closed again and
 * `Cancelled` raised.
 *
 * ```ts
 * const file = await openFile('log.txt');
 * try { for await (const line of file) console.log(line); } finally { await file.aclose(); }
 * ```
 */
export async function openFile(path: PathLike | { toString(): string }, flags: string | number = 'r', mode?: number): Promise<AsyncFile> {
  if (typeof path !== 'string' && !(path instanceof URL) && !Buffer.isBuffer(path) && !(typeof path === 'object' && path !== null)) {
    throw new TypeError(`openFile: path must be a string, URL, Buffer or Path, got ${describe(path)}`);
  }
  if (typeof flags !== 'string' && typeof flags !== 'number') {
    throw new TypeError(`openFile: flags must be a string such as 'r' or a number, got ${describe(flags)}`);
  }
  const target = typeof path === 'string' || path instanceof URL || Buffer.isBuffer(path) ? path : String(path);
  let handle: FileHandle | undefined;
  try {
    handle = await fsCall('openFile', async () => {
      handle = await fs.open(target, flags, mode);
      return handle;
    });
  } catch (error) {
    await handle?.close(); // opened, but the caller was cancelled meanwhile
    throw error;
  }
  return new AsyncFile(handle, typeof flags === 'string' && flags.startsWith('a'));
}

/** Wraps an open `fs.promises` FileHandle (its position starts at 0). Not a checkpoint. */
export function wrapFile(handle: FileHandle): AsyncFile {
  if (handle === null || typeof handle !== 'object' || typeof (handle as FileHandle).read !== 'function' || typeof (handle as FileHandle).fd !== 'number') {
    throw new TypeError(`wrapFile: handle must be an fs.promises FileHandle, got ${describe(handle)}`);
  }
  return new AsyncFile(handle);
}
