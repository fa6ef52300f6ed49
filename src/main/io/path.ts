/**
 * `Path`: a file-system path with pure operations (join, parent, name, suffix) and async ones
 * that are checkpoints (read, write, stat, mkdir, iterdir, glob, rename, unlink, rm, open).
 *
 * Every async method runs on Node's `fs.promises` (libuv's thread pool: the event loop never
 * waits for the disk). Cancellation: `readText`, `readBytes`, `writeText` and `writeBytes` pass
 * `currentAbortSignal()` to Node and stop when cancelled (a write may have written part of the
 * file). Every other method completes once started and then raises `Cancelled`; `glob` checks
 * for cancellation between directories. Option names follow `fs.promises`.
 *
 * ```ts
 * const config = new Path(os.homedir(), '.config', 'app.json');
 * if (await config.exists()) settings = JSON.parse(await config.readText());
 * for (const file of await new Path('src').glob('**\/*.ts')) console.log(file.name);
 * ```
 */
import type { Dirent, Mode, Stats } from 'node:fs';
import fs from 'node:fs/promises';
import nodePath from 'node:path';
import { checkpointIfCancelled, yieldToEventLoop } from '../core/checkpoint.js';
import { checkOptions, describe } from '../core/validate.js';
import { compileSegment, expandBraces, matchSegment, type SegmentPattern } from './glob-pattern.js';

type GlobSegment = SegmentPattern | '**';
import { openFile, type AsyncFile } from './async-file.js';
import { fsCall } from './fs-call.js';

type PathLikeInput = string | Path;

function segmentString(where: string, segment: unknown): string {
  if (segment instanceof Path) return segment.toString();
  if (typeof segment !== 'string') throw new TypeError(`${where}: each segment must be a string or a Path, got ${describe(segment)}`);
  return segment;
}


/** Text up to this size is decoded in one go (about 0.5 ms); larger text a slice per macrotask. */
const DECODE_SLICE = 4 << 20;

/**
 * Decodes UTF-8, yielding to the event loop between 1 MiB slices (cut at character boundaries).
 * The slices are joined with `+`, which V8 keeps as a rope: no single step copies the whole text.
 * Cancellable between slices.
 */
async function decodeUtf8InSlices(bytes: Uint8Array): Promise<string> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (buffer.length <= DECODE_SLICE) return buffer.toString('utf8');
  let text = '';
  let offset = 0;
  while (offset < buffer.length) {
    let end = Math.min(offset + DECODE_SLICE, buffer.length);
    while (end < buffer.length && end > offset && (buffer[end]! & 0xc0) === 0x80) end--; // not inside a character
    text += buffer.toString('utf8', offset, end);
    offset = end;
    if (offset < buffer.length) {
      await yieldToEventLoop();
      await checkpointIfCancelled();
    }
  }
  return text;
}

export class Path {
  readonly #path: string;

  /** Joins `segments` (strings or Paths) into one normalized path; no segment means '.'. */
  constructor(...segments: PathLikeInput[]) {
    const parts = segments.map((s) => segmentString('Path', s));
    this.#path = parts.reduce((base, part) => (nodePath.isAbsolute(part) ? nodePath.normalize(part) : nodePath.join(base, part)), '.');
  }

  /** This path joined with `segments`; an absolute segment starts over (as in pathlib). */
  join(...segments: PathLikeInput[]): Path {
    let base = this.#path;
    for (const s of segments) {
      const text = segmentString('Path.join', s);
      base = nodePath.isAbsolute(text) ? text : nodePath.join(base, text);
    }
    return new Path(base);
  }

  /** The directory containing this path (the path itself for a root). */
  get parent(): Path {
    return new Path(nodePath.dirname(this.#path));
  }

  /** The last segment ('' for a root). */
  get name(): string {
    return nodePath.basename(this.#path);
  }

  /** The last segment's extension with its dot ('.gz' for 'a.tar.gz'; '' when none). */
  get suffix(): string {
    return nodePath.extname(this.name);
  }

  /** The last segment without its suffix. */
  get stem(): string {
    return this.name.slice(0, this.name.length - this.suffix.length);
  }

  /** The segments of the path ('/' first for an absolute path). */
  get parts(): string[] {
    const parsed = nodePath.parse(this.#path);
    const rest = this.#path.slice(parsed.root.length).split(nodePath.sep).filter((p) => p !== '');
    return parsed.root ? [parsed.root, ...rest] : rest;
  }

  /** The same path with the last segment replaced. */
  withName(name: string): Path {
    return this.parent.join(segmentString('Path.withName', name));
  }

  /** The same path with the suffix replaced (`suffix` includes its dot, or is '' to remove it). */
  withSuffix(suffix: string): Path {
    return this.parent.join(this.stem + segmentString('Path.withSuffix', suffix));
  }

  isAbsolute(): boolean {
    return nodePath.isAbsolute(this.#path);
  }

  /** The absolute form, against the current directory (pure: no symlinks resolved). */
  absolute(): Path {
    return new Path(nodePath.resolve(this.#path));
  }

  /** This path relative to `other`. */
  relativeTo(other: PathLikeInput): Path {
    return new Path(nodePath.relative(segmentString('Path.relativeTo', other), this.#path) || '.');
  }

  toString(): string {
    return this.#path;
  }

  toJSON(): string {
    return this.#path;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Path(${JSON.stringify(this.#path)})`;
  }

  /**
   * The file's contents decoded (UTF-8 by default). A checkpoint; cancellation aborts the read.
   * The bytes are read off the event loop (libuv's pool); a large UTF-8 file (≥ 1 MiB) is then
   * decoded 1 MiB per macrotask so the event loop never waits long (see bench/files).
   */
  async readText(encoding: BufferEncoding = 'utf8'): Promise<string> {
    if (typeof encoding !== 'string' || !Buffer.isEncoding(encoding)) {
      throw new TypeError(`Path.readText: encoding must be a Buffer encoding such as 'utf8', got ${describe(encoding)}`);
    }
    if (encoding !== 'utf8' && encoding !== 'utf-8') {
      return fsCall('Path.readText', (signal) => fs.readFile(this.#path, { encoding, signal }), true);
    }
    const bytes = await fsCall('Path.readText', (signal) => fs.readFile(this.#path, { signal }), true);
    return decodeUtf8InSlices(bytes);
  }

  /** The file's contents. A checkpoint; cancellation aborts the read. */
  readBytes(): Promise<Uint8Array> {
    return fsCall('Path.readBytes', (signal) => fs.readFile(this.#path, { signal }), true);
  }

  /** Replaces the file's contents with `text`. A checkpoint; cancellation aborts the write. */
  writeText(text: string, options: { encoding?: BufferEncoding; mode?: Mode; flag?: string } = {}): Promise<void> {
    if (typeof text !== 'string') return Promise.reject(new TypeError(`Path.writeText: text must be a string, got ${describe(text)}`));
    try {
      options = checkOptions('Path.writeText', options);
    } catch (error) {
      return Promise.reject(error);
    }
    return fsCall('Path.writeText', (signal) => fs.writeFile(this.#path, text, { encoding: 'utf8', ...options, signal }), true);
  }

  /** Replaces the file's contents with `data`. A checkpoint; cancellation aborts the write. */
  writeBytes(data: Uint8Array, options: { mode?: Mode; flag?: string } = {}): Promise<void> {
    try {
      options = checkOptions('Path.writeBytes', options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!(data instanceof Uint8Array)) return Promise.reject(new TypeError(`Path.writeBytes: data must be a Uint8Array, got ${describe(data)}`));
    return fsCall('Path.writeBytes', (signal) => fs.writeFile(this.#path, data, { ...options, signal }), true);
  }

  /** `fs.stat` (symlinks followed). A checkpoint. */
  stat(): Promise<Stats> {
    return fsCall('Path.stat', () => fs.stat(this.#path));
  }

  /** `fs.lstat` (symlinks not followed). A checkpoint. */
  lstat(): Promise<Stats> {
    return fsCall('Path.lstat', () => fs.lstat(this.#path));
  }

  /** True when something exists at this path. A checkpoint. */
  exists(): Promise<boolean> {
    return fsCall('Path.exists', () => fs.access(this.#path).then(() => true, () => false));
  }

  /** True for a regular file (false when missing). A checkpoint. */
  isFile(): Promise<boolean> {
    return fsCall('Path.isFile', () => fs.stat(this.#path).then((s) => s.isFile(), () => false));
  }

  /** True for a directory (false when missing). A checkpoint. */
  isDir(): Promise<boolean> {
    return fsCall('Path.isDir', () => fs.stat(this.#path).then((s) => s.isDirectory(), () => false));
  }

  /** Creates the directory (`recursive`: with its parents, and no error if it exists). A checkpoint. */
  async mkdir(options: { recursive?: boolean; mode?: Mode } = {}): Promise<void> {
    options = checkOptions('Path.mkdir', options);
    await fsCall('Path.mkdir', () => fs.mkdir(this.#path, options));
  }

  /** The directory's entries as Paths, sorted by name. A checkpoint. */
  async iterdir(): Promise<Path[]> {
    const names = await fsCall('Path.iterdir', () => fs.readdir(this.#path));
    return names.sort().map((name) => this.join(name));
  }

  /**
   * The paths under this directory matching `pattern`, sorted: `*`, `?` and `[…]` (`[a-z]`,
   * `[!abc]`) match within one segment, `{a,b}` gives alternatives (nested, also across `/`),
   * `\\` escapes, and `**` matches any number of directories — none included, so `**\/*.ts`
   * finds top-level files too (as pathlib's glob). Hidden files match like any other. Symlinked
   * directories are not followed by `**`. Matching takes time linear in the name for each
   * pattern segment (no regular expressions); syntax it does not support (`[[:alpha:]]`,
   * `@(…)`, an unclosed `[` or `{`) raises a SyntaxError. A checkpoint before each directory it reads.
   */
  async glob(pattern: string): Promise<Path[]> {
    if (typeof pattern !== 'string' || pattern === '') throw new TypeError(`Path.glob: pattern must be a non-empty string, got ${describe(pattern)}`);
    if (nodePath.isAbsolute(pattern)) throw new TypeError('Path.glob: pattern must be relative');
    const compiled = expandBraces(pattern).map((expanded) =>
      expanded.split('/').filter((s) => s !== '').map((s): GlobSegment => (s === '**' ? '**' : compileSegment(s))),
    );
    const found = new Set<string>();
    for (const segments of compiled) await this.#glob(this.#path, segments, found);
    return Array.from(found).sort().map((p) => new Path(p));
  }

  async #glob(dir: string, segments: GlobSegment[], found: Set<string>): Promise<void> {
    if (segments.length === 0) {
      found.add(dir);
      return;
    }
    const [segment, ...rest] = segments as [GlobSegment, ...GlobSegment[]];
    if (segment === '**') {
      await this.#glob(dir, rest, found);
      for (const entry of await this.#entries(dir)) {
        if (entry.isDirectory()) await this.#glob(nodePath.join(dir, entry.name), segments, found);
      }
      return;
    }
    if (segment.literal !== undefined) {
      const next = nodePath.join(dir, segment.literal);
      if (rest.length === 0) {
        if (await fsCall('Path.glob', () => fs.lstat(next).then(() => true, () => false))) found.add(next);
      } else await this.#glob(next, rest, found);
      return;
    }
    for (const entry of await this.#entries(dir)) {
      if (!matchSegment(segment, entry.name)) continue;
      const next = nodePath.join(dir, entry.name);
      if (rest.length === 0) found.add(next);
      else if (entry.isDirectory() || entry.isSymbolicLink()) await this.#glob(next, rest, found);
    }
  }

  /** A directory's entries, or none when it is not a readable directory. */
  #entries(dir: string): Promise<Dirent[]> {
    return fsCall('Path.glob', () => fs.readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[]));
  }

  /** Renames (moves) the file to `to`; returns the new Path. A checkpoint. */
  async rename(to: PathLikeInput): Promise<Path> {
    const target = new Path(to);
    await fsCall('Path.rename', () => fs.rename(this.#path, target.toString()));
    return target;
  }

  /** Removes the file (`missingOk`: no error when it does not exist). A checkpoint. */
  async unlink(options: { missingOk?: boolean } = {}): Promise<void> {
    options = checkOptions('Path.unlink', options);
    await fsCall('Path.unlink', () =>
      fs.unlink(this.#path).catch((error: NodeJS.ErrnoException) => {
        if (!(options.missingOk && error.code === 'ENOENT')) throw error;
      }),
    );
  }

  /** Removes the directory, which must be empty. A checkpoint. */
  async rmdir(): Promise<void> {
    await fsCall('Path.rmdir', () => fs.rmdir(this.#path));
  }

  /** `fs.rm`: removes files and (with `recursive`) directories; `force` ignores a missing path. A checkpoint. */
  async rm(options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    options = checkOptions('Path.rm', options);
    await fsCall('Path.rm', () => fs.rm(this.#path, options));
  }

  /** The absolute path with every symlink resolved (`fs.realpath`). A checkpoint. */
  async resolve(): Promise<Path> {
    return new Path(await fsCall('Path.resolve', () => fs.realpath(this.#path)));
  }

  /** `openFile(this, flags)`. */
  async open(flags: string | number = 'r', mode?: number): Promise<AsyncFile> {
    return openFile(this.#path, flags, mode);
  }
}
