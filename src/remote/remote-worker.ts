/**
 * The worker side of `triode/remote`: serves a BullMQ queue's triode jobs on a local WorkerPool,
 * so a remote job runs exactly as a local call does (its own thread, nested calls, shared
 * channels inside it, cross-thread TaskLocals, the cancel word). `triode-worker` (cli.ts) is this
 * plus argument parsing and signals.
 *
 * - BullMQ takes at most `concurrency` jobs at a time from Redis (twice the threads: each thread
 *   has its next job at hand), so the rest wait in Redis, where any worker process can take them.
 * - Each job's outcome, errors included, is its return value (protocol.ts); the processor never
 *   throws, so BullMQ's *failed* is left to mean "lost" (stalled-job detection, with
 *   `maxStalledCount: 0`: a job whose worker died fails, it is never run twice).
 * - Cancel requests (protocol.ts) set the job's cancel word; `kill` terminates its thread too.
 * - `close()` stops taking jobs, cancels the running ones cooperatively, kills what is still
 *   running after `killAfterMs`, and answers their callers with BrokenWorkerError (the worker was
 *   stopped; their own scopes did not cancel them).
 */
import { availableParallelism, hostname } from 'node:os';
import { Worker as BullWorker, type Job } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { BrokenWorkerError, Cancelled } from '../shared/errors.js';
import { errorToWire, describedErrorWire } from '../shared/error-wire.js';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkInteger, checkOptions, describe } from '../main/core/validate.js';
import { WorkerPool } from '../main/workers/pool.js';
import type { WorkerJobHandle } from '../main/workers/job-client.js';
import { bullConnection, checkRedisOptions, openRedis } from './remote-pool.js';
import { cancelChannel, cancelKey, decodeJobData, encodeReturn, isOwnFile, JOB_NAME, type ReturnData } from './protocol.js';

export interface RemoteWorkerOptions {
  /** Where Redis is: a URL or ioredis options. */
  redis: string | RedisOptions;
  /** The queue to serve. */
  queue: string;
  /** Worker threads (default: os.availableParallelism()). */
  threads?: number;
  /**
   * Jobs taken from Redis at once (default: twice `threads`): a thread that finishes a job finds
   * the next one waiting in this process and starts it without sleeping first (a wake-up of a
   * sleeping thread costs more than a small job). Jobs beyond it wait in Redis for any worker.
   */
  concurrency?: number;
  /** BullMQ's key prefix (default 'bull'). */
  prefix?: string;
  /**
   * How long (ms) a job's lock lasts without renewal (default 10000): after this a worker that
   * died is noticed by the pools' stalled check. Renewed every half of it by this process's
   * main thread, which jobs never block (they run on threads).
   */
  lockDurationMs?: number;
  /** How often (ms) this worker runs the stalled-job check too (default 5000). */
  stalledIntervalMs?: number;
  /** At `close()`, how long (ms) cancelled jobs get to stop before their threads are killed (default 5000). */
  killAfterMs?: number;
  /**
   * The folder whose modules jobs may run (default: the working directory). A job naming a
   * module outside it — another folder, a `data:` or `node:` URL — is refused: whoever can write
   * to the queue must not be able to run any code on the worker's machine.
   */
  modules?: string;
}

/** How long a cancel request for a job this worker does not run is remembered. */
const RECENT_CANCEL_MS = 60_000;

interface Running {
  readonly handle: WorkerJobHandle;
  readonly killable: boolean;
  /** Set when this worker's shutdown cancelled it before a thread started it. */
  droppedAtStop: boolean;
}

export class RemoteWorker {
  readonly queue: string;
  readonly threads: number;
  readonly concurrency: number;
  /** host/pid: how callers' error stacks name this worker. */
  readonly name = `${hostname()}/${process.pid}`;
  /** Settles when the worker takes jobs; rejects if it cannot connect. */
  readonly ready: Promise<void>;
  readonly #prefix: string;
  readonly #pool: WorkerPool;
  readonly #bull: BullWorker;
  readonly #subscriber: Redis;
  readonly #commands: Redis;
  readonly #running = new Map<string, Running>();
  /** Cancel requests for jobs this worker did not run (yet): id → [kind, when]; kept a minute. */
  readonly #recentCancels = new Map<string, [kind: string, at: number]>();
  readonly #killAfterMs: number;
  /** The allowed folder's file: URL, ending in '/'. */
  readonly #modules: string;
  #stopping = false;
  #closing: Promise<void> | undefined;

  constructor(options: RemoteWorkerOptions) {
    checkOptions('RemoteWorker', options);
    this.#prefix = checkRedisOptions('RemoteWorker', options.redis, options.queue, options.prefix);
    this.queue = options.queue;
    this.threads = checkInteger('RemoteWorker', 'threads', options.threads ?? availableParallelism(), 1);
    this.concurrency = checkInteger('RemoteWorker', 'concurrency', options.concurrency ?? 2 * this.threads, 1);
    const lockDuration = checkInteger('RemoteWorker', 'lockDurationMs', options.lockDurationMs ?? 10_000, 10);
    const stalledInterval = checkInteger('RemoteWorker', 'stalledIntervalMs', options.stalledIntervalMs ?? 5000, 1);
    this.#killAfterMs = checkInteger('RemoteWorker', 'killAfterMs', options.killAfterMs ?? 5000, 0);
    if (options.modules !== undefined && (typeof options.modules !== 'string' || options.modules === '')) {
      throw new TypeError(`RemoteWorker: options.modules must be a folder path, got ${describe(options.modules)}`);
    }
    this.#modules = pathToFileURL(resolvePath(options.modules ?? '.')).href.replace(/\/?$/, '/');
    this.#pool = new WorkerPool({ maxThreads: this.threads });
    // (One parameter: BullMQ makes an AbortSignal per job only for a processor that takes three;
    // cancel requests come through triode's own channel.)
    this.#bull = new BullWorker(this.queue, (job) => this.#process(job), {
      connection: bullConnection(options.redis),
      prefix: this.#prefix,
      concurrency: this.concurrency,
      lockDuration,
      stalledInterval,
      maxStalledCount: 0,
      autorun: false,
    });
    this.#bull.on('error', () => {
      // connection trouble: ioredis reconnects; jobs held meanwhile are the stalled check's
    });
    this.#subscriber = openRedis(options.redis);
    this.#commands = openRedis(options.redis);
    for (const client of [this.#subscriber, this.#commands]) client.on('error', () => {});
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onCancelMessage(message));
    // Requests published while the subscription was down are in their keys.
    let subscribed = false;
    this.#subscriber.on('ready', () => {
      if (subscribed) void this.#readCancelKeys();
      subscribed = true;
    });
    this.ready = this.#start();
    this.ready.catch(() => {});
  }

  async #start(): Promise<void> {
    await this.#subscriber.subscribe(cancelChannel(this.#prefix, this.queue));
    await this.#bull.waitUntilReady();
    void this.#bull.run().catch(() => {});
  }

  /** Jobs running now. */
  get runningJobs(): number {
    return this.#running.size;
  }

  async #process(job: Job): Promise<ReturnData> {
    const fail = (error: unknown) => encodeReturn({ ok: false, error: errorToWire(error) }, this.name, describedErrorWire);
    if (job.name !== JOB_NAME || job.id === undefined) return fail(new TypeError(`triode-worker: job ${String(job.id)} is not a triode job`));
    let decoded: ReturnType<typeof decodeJobData>;
    try {
      decoded = decodeJobData(job.data);
    } catch (error) {
      return fail(error);
    }
    if (!isOwnFile(decoded.module) && !decoded.module.startsWith(this.#modules)) {
      return fail(new TypeError(`triode-worker: ${JSON.stringify(decoded.module.slice(0, 300))} is outside the modules this worker runs (${this.#modules})`));
    }
    if (this.#stopping) return fail(new BrokenWorkerError(`the remote worker ${this.name} was stopping when it took ${decoded.exportName}`));
    const borrower = {};
    const limiter = this.#pool.limiter;
    if (!limiter.tryAcquireOnBehalfOf(borrower)) return fail(new BrokenWorkerError(`the remote worker ${this.name} took more jobs than it has slots`));
    let handle: WorkerJobHandle;
    try {
      handle = this.#pool.submit({ url: decoded.module, exportName: decoded.exportName, args: decoded.args, locals: decoded.locals, killable: true });
    } catch (error) {
      limiter.releaseOnBehalfOf(borrower);
      return fail(error);
    }
    const running: Running = { handle, killable: decoded.killable, droppedAtStop: false };
    const id = job.id;
    this.#running.set(id, running);
    // A cancel request that came before this job was registered.
    const early = this.#recentCancels.get(id);
    if (early !== undefined) this.#cancel(running, early[0]);
    const result = await handle.settled;
    this.#running.delete(id);
    limiter.releaseOnBehalfOf(borrower);
    if ('error' in result) {
      // Cancelled by this worker's shutdown, not by the caller: the caller must not read it as its own cancellation.
      if (this.#stopping && result.error instanceof Cancelled && !(await this.#wasCancelled(id))) {
        const when = running.droppedAtStop ? 'before a thread started' : 'while running';
        return fail(new BrokenWorkerError(`the remote worker ${this.name} was stopped ${when} ${decoded.exportName}`));
      }
      return fail(result.error);
    }
    return encodeReturn({ ok: true, value: result.value }, this.name, describedErrorWire);
  }

  async #wasCancelled(id: string): Promise<boolean> {
    try {
      return (await this.#commands.get(cancelKey(this.#prefix, this.queue, id))) !== null;
    } catch {
      return false;
    }
  }

  #onCancelMessage(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (parsed === null || typeof parsed !== 'object') return;
    const { id, kind } = parsed as { id?: unknown; kind?: unknown };
    if (typeof id !== 'string') return;
    if (typeof kind !== 'string') return;
    const running = this.#running.get(id);
    if (running !== undefined) {
      this.#cancel(running, kind);
      return;
    }
    // Perhaps for a job this worker has taken but not registered yet: remember it a while.
    const now = Date.now();
    if (this.#recentCancels.size >= 10_000) {
      for (const [old, [, at]] of this.#recentCancels) {
        if (now - at < RECENT_CANCEL_MS && this.#recentCancels.size < 10_000) break;
        this.#recentCancels.delete(old);
      }
    }
    this.#recentCancels.set(id, [kind, now]);
  }

  async #readCancelKeys(): Promise<void> {
    const ids = [...this.#running.keys()];
    if (ids.length === 0) return;
    try {
      const kinds = await this.#commands.mget(ids.map((id) => cancelKey(this.#prefix, this.queue, id)));
      ids.forEach((id, i) => {
        const running = this.#running.get(id);
        const kind = kinds[i];
        if (running !== undefined && typeof kind === 'string') this.#cancel(running, kind);
      });
    } catch {
      // Redis is down again: the next 'ready' reads them
    }
  }

  #cancel(running: Running, kind: string): void {
    if (kind !== 'cancel' && kind !== 'kill') return;
    running.handle.cancel();
    if (kind === 'kill' && running.killable) running.handle.kill();
  }

  /**
   * Stops: takes no more jobs, cancels the running ones (cooperatively, then by killing their
   * threads after `killAfterMs`), waits for them to answer, and closes its connections and threads.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stopping = true;
    const stopTaking = this.#bull.close(); // waits for the running jobs' answers
    for (const running of this.#running.values()) running.droppedAtStop = running.handle.cancel();
    const killer = setTimeout(() => {
      for (const running of this.#running.values()) running.handle.kill();
    }, this.#killAfterMs);
    try {
      await stopTaking;
    } finally {
      clearTimeout(killer);
      this.#subscriber.disconnect();
      this.#commands.disconnect();
      await this.#pool.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
