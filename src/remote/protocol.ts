/**
 * What a RemotePool and a `triode-worker` say to each other through Redis, encoded in one place
 * and decoded in one place; the decoders trust nothing (anything in Redis may have been written
 * by another version, another program, or a hostile one).
 *
 * - A job is a BullMQ job named `triode` whose data is `JobData`: the module (a URL; triode's own
 *   worker-side files as `triode:<file>`, so each side finds its own install), the export, the
 *   arguments and the caller's cross-thread TaskLocal values as one `v8.serialize` in base64 (so
 *   values keep their types: Dates, Maps, BigInts, typed arrays, undefined) — or, when every
 *   argument is one JSON carries exactly (finite numbers, strings, booleans, null) and there are
 *   no TaskLocal values, the arguments as they are (no serializer, no base64: most calls) — and
 *   whether the caller may kill the thread.
 * - The job's return value is always `ReturnData`: the call's outcome in the worker-thread wire
 *   form (shared/job-codec.ts: a value, or an error in error-wire form), in base64, or a value
 *   JSON carries exactly as it is; and which worker ran it. A job BullMQ marks *failed* therefore never means "the export threw": it means
 *   the job was lost (its worker died: stalled-job detection), and the call fails with
 *   BrokenWorkerError.
 * - Cancelling a running job: the caller sets `cancelKey(job)` to `cancel` or `kill` (kept an
 *   hour), then publishes the job id on `cancelChannel`. A worker acts on a message for a job it
 *   runs, and remembers messages for jobs it does not run for a minute, so a request that raced
 *   a job's start is applied when the job starts; after its subscription was down (a dropped
 *   connection) it reads the keys of the jobs it runs.
 */
import { deserialize, serialize } from 'node:v8';
import { checkLocals, decodeOutcome, encodeOutcome, type JobOutcome } from '../shared/job-codec.js';

export const JOB_NAME = 'triode';
const VERSION = 1;

export interface JobData {
  readonly v: number;
  readonly module: string;
  readonly exportName: string;
  /** The arguments themselves when JSON carries them exactly (finite numbers, strings, booleans, null)… */
  readonly args?: unknown[];
  /** …else base64 of v8.serialize([args, locals]). */
  readonly payload?: string;
  readonly killable: boolean;
}

export interface ReturnData {
  /** A value JSON carries exactly (see JobData.args)… */
  readonly value?: unknown;
  /** …else base64 of the outcome (shared/job-codec.ts encodeOutcome). */
  readonly outcome?: string;
  /** Which worker ran the job: host/pid. */
  readonly worker: string;
}

/** Whether JSON round-trips `value` exactly (most arguments and results of worker calls). */
function isJsonExact(value: unknown): boolean {
  const type = typeof value;
  return type === 'string' || type === 'boolean' || value === null || (type === 'number' && Number.isFinite(value) && !Object.is(value, -0));
}

export interface DecodedJob {
  readonly module: string;
  readonly exportName: string;
  readonly args: unknown[];
  readonly locals: Array<[string, unknown]> | undefined;
  readonly killable: boolean;
}

/** Where this install's worker-side files are (next to this module in dist/). */
const ownFiles = new URL('./', import.meta.url).href;
const OWN_PREFIX = 'triode:';

/** A module URL as it travels: triode's own files relative to the install, others as they are. */
function portableModule(url: string): string {
  return url.startsWith(ownFiles) && !url.slice(ownFiles.length).includes('/') ? OWN_PREFIX + url.slice(ownFiles.length) : url;
}

/** Whether `url` is one of triode's own worker-side files in this install. */
export function isOwnFile(url: string): boolean {
  return url.startsWith(ownFiles) && /^[\w.-]+\.js$/.test(url.slice(ownFiles.length));
}

/** The URL a travelling module name means here. */
function localModule(name: string): string {
  if (!name.startsWith(OWN_PREFIX)) return name;
  const file = name.slice(OWN_PREFIX.length);
  if (!/^[\w.-]+\.js$/.test(file)) throw new TypeError(`a job names an unknown triode module ${JSON.stringify(name)}`);
  return ownFiles + file;
}

/** The data of one job; throws a TypeError when the arguments cannot be serialized. */
export function encodeJobData(
  url: string,
  exportName: string,
  args: unknown[],
  locals: Array<[string, unknown]> | undefined,
  killable: boolean,
): JobData {
  const module = portableModule(url);
  if (locals === undefined && args.every(isJsonExact)) return { v: VERSION, module, exportName, args, killable };
  let bytes: Buffer;
  try {
    bytes = serialize([args, locals]);
  } catch (error) {
    throw new TypeError(`runInWorker: the arguments of ${exportName} cannot be sent to a remote worker (${(error as Error).message})`, { cause: error });
  }
  return { v: VERSION, module, exportName, payload: bytes.toString('base64'), killable };
}

/** A job's data as a worker reads it; a TypeError saying what is wrong with it otherwise. */
export function decodeJobData(data: unknown): DecodedJob {
  if (data === null || typeof data !== 'object') throw new TypeError('a remote job carries no data');
  const { v, module, exportName, args, payload, killable } = data as Record<string, unknown>;
  if (v !== VERSION) throw new TypeError(`a remote job has protocol version ${String(v)}; this worker speaks ${VERSION}`);
  if (typeof module !== 'string' || module === '' || typeof exportName !== 'string' || exportName === '') {
    throw new TypeError('a remote job is malformed (module or exportName missing)');
  }
  if (Array.isArray(args) && args.every(isJsonExact)) return { module: localModule(module), exportName, args, locals: undefined, killable: killable === true };
  if (typeof payload !== 'string') throw new TypeError('a remote job is malformed (no arguments)');
  let decoded: unknown;
  try {
    decoded = deserialize(Buffer.from(payload, 'base64'));
  } catch (error) {
    throw new TypeError(`a remote job's arguments could not be decoded (${(error as Error).message})`, { cause: error });
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || !Array.isArray(decoded[0])) throw new TypeError("a remote job's arguments are malformed");
  const locals = decoded[1] === undefined ? undefined : checkLocals(decoded[1]);
  return { module: localModule(module), exportName, args: decoded[0] as unknown[], locals, killable: killable === true };
}

/** A job's return value; an outcome that cannot be serialized becomes an error saying so. */
export function encodeReturn(outcome: JobOutcome, worker: string, describeError: (what: string) => unknown): ReturnData {
  if (outcome.ok && isJsonExact(outcome.value)) return { value: outcome.value, worker };
  let bytes: Uint8Array;
  try {
    bytes = encodeOutcome(outcome);
  } catch (error) {
    const what = outcome.ok ? 'its result cannot be sent back to the caller' : 'the value it threw cannot be sent back to the caller';
    bytes = encodeOutcome({ ok: false, error: describeError(`${what}: ${(error as Error)?.message ?? String(error)}`) });
  }
  return { outcome: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), worker };
}

/** A job's return value as the caller reads it; a TypeError saying what is wrong with it otherwise. */
export function decodeReturn(value: unknown): { outcome: JobOutcome; worker: string } {
  if (value === null || typeof value !== 'object') throw new TypeError('a malformed result came back from a remote worker');
  const { outcome, worker, value: plain } = value as Record<string, unknown>;
  const from = typeof worker === 'string' ? worker.slice(0, 200) : 'an unknown worker';
  if (outcome === undefined && isJsonExact(plain)) return { outcome: { ok: true, value: plain }, worker: from };
  if (typeof outcome !== 'string') throw new TypeError('a malformed result came back from a remote worker');
  return { outcome: decodeOutcome(Buffer.from(outcome, 'base64')), worker: from };
}

/** The pub/sub channel that carries cancel requests for `queue`'s running jobs. */
export function cancelChannel(prefix: string, queue: string): string {
  return `${prefix}:${queue}:triode:cancel`;
}

/** The key that records a cancel request (`cancel` or `kill`) for one job. */
export function cancelKey(prefix: string, queue: string, jobId: string): string {
  return `${prefix}:${queue}:triode:cancel:${jobId}`;
}

export const CANCEL_KEY_TTL_MS = 3_600_000;
