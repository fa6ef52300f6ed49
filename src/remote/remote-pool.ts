/**
 * RemotePool: a pool whose jobs run in other processes or on other machines (`triode-worker`),
 * through BullMQ on Redis. `runInWorker`, `workerModule` and `mapInWorkers` accept it as `pool`,
 * with the semantics of a WorkerPool (DESIGN §4 "Past one machine"):
 *
 * - A call takes one of `maxInFlight` tokens (the jobs this pool has in Redis at once), then
 *   becomes a job. Jobs submitted in the same turn go to Redis in one `addBulk`; their ids are
 *   chosen here, so an outcome that arrives before `addBulk` answers still finds its call.
 * - Outcomes come back through one QueueEvents stream per pool (BullMQ's `completed` events carry
 *   the return value; protocol.ts says what it holds), so a pool reads any number of calls'
 *   outcomes with one blocking connection.
 * - Cancelling: a job not sent yet is dropped at once (the call raises Cancelled without a round
 *   trip); a job in Redis is removed if no worker took it yet, and otherwise its worker is told
 *   (protocol.ts) to set the thread's cancel word, or to kill the thread when the call's `cancel`
 *   mode is `'kill'` — the call then ends as it would on a local pool.
 * - A worker process that dies mid-job stops renewing the job's lock; BullMQ's stalled-job check
 *   (run here too, every `stalledIntervalMs`, so it does not depend on another worker being
 *   alive) fails the job, and the call rejects with BrokenWorkerError — never a hang. Jobs are
 *   never retried: a call runs at most once.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { BrokenWorkerError, ClosedResourceError, createCancelled } from '../shared/errors.js';
import { errorFromWire } from '../shared/error-wire.js';
import { abandonOnCancel } from '../main/core/abort-signal.js';
import { CancelScope } from '../main/core/cancel-scope.js';
import { checkFunction, checkInteger, checkOptions, describe } from '../main/core/validate.js';
import { CapacityLimiter } from '../main/sync/capacity-limiter.js';
import { POOL_BRAND, type JobListener, type JobRequest, type JobResult, type JobSubmitter, type WorkerJobHandle } from '../main/workers/job-client.js';
import { CANCEL_KEY_TTL_MS, cancelChannel, cancelKey, decodeReturn, encodeJobData, JOB_NAME, type JobData } from './protocol.js';

export interface RemotePoolOptions {
  /** Where Redis is: a URL (`redis://127.0.0.1:6379`) or ioredis options. */
  redis: string | RedisOptions;
  /** The BullMQ queue the `triode-worker` processes serve. */
  queue: string;
  /** Most jobs this pool has in Redis at once (default 256); further calls wait for a token. */
  maxInFlight?: number;
  /**
   * How often (ms) the pool looks for jobs whose worker stopped renewing their lock (it died):
   * such a call fails with BrokenWorkerError (default 5000). A dead worker is noticed after its
   * lock expires (the worker's `--lock-ms`) and within two checks after that.
   */
  stalledIntervalMs?: number;
  /** BullMQ's key prefix (default 'bull'); the workers must use the same. */
  prefix?: string;
}

interface RemoteRecord {
  readonly id: string;
  readonly url: string;
  readonly exportName: string;
  readonly data: JobData;
  readonly killable: boolean;
  readonly resolve: (result: JobResult) => void;
  readonly onSettled: (() => void) | undefined;
  readonly listener: JobListener | undefined;
  /** pending: not sent yet; sending: in an addBulk; queued: in Redis; done: settled. */
  state: 'pending' | 'sending' | 'queued' | 'done';
  /** A worker took it (its `active` event came). */
  active: boolean;
  /** What the caller asked for while it was being sent: acted on once it is in Redis. */
  requested: 'cancel' | 'kill' | undefined;
  /** Cancel requests already made, so each is made once. */
  cancelSent: boolean;
  killSent: boolean;
}

const DEFAULT_MAX_IN_FLIGHT = 256;
/** How long close() waits for Redis: to take the cancel requests of calls still in flight, then to close. */
const CLOSE_GRACE_MS = 2000;

/** Waits for `promise`, but not longer than `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
const DEFAULT_STALLED_INTERVAL_MS = 5000;

/** BullMQ's form of the connection option. */
export function bullConnection(redis: string | RedisOptions): ConnectionOptions {
  return typeof redis === 'string' ? ({ url: redis } as ConnectionOptions) : { ...redis };
}

/** A plain ioredis connection for triode's own side channel (cancel requests). */
export function openRedis(redis: string | RedisOptions): Redis {
  const options: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false };
  return typeof redis === 'string' ? new Redis(redis, options) : new Redis({ ...redis, ...options });
}

/** Checks the options shared by both sides; returns the prefix. */
export function checkRedisOptions(where: string, redis: unknown, queue: unknown, prefix: unknown): string {
  if (typeof redis !== 'string' && (redis === null || typeof redis !== 'object')) {
    throw new TypeError(`${where}: options.redis must be a redis:// URL or ioredis options, got ${describe(redis)}`);
  }
  if (typeof redis === 'string' && !/^rediss?:\/\//.test(redis)) {
    throw new TypeError(`${where}: options.redis must be a redis:// or rediss:// URL, got ${describe(redis)}`);
  }
  if (typeof queue !== 'string' || queue === '' || queue.includes(':')) {
    throw new TypeError(`${where}: options.queue must be a non-empty queue name without ':', got ${describe(queue)}`);
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix === '')) {
    throw new TypeError(`${where}: options.prefix must be a non-empty string, got ${describe(prefix)}`);
  }
  return prefix ?? 'bull';
}

/**
 * A pool of remote workers (`triode-worker` processes serving `queue`). Open it with
 * `openRemotePool`, or construct it and `await pool.ready` before the first call, and `close()`
 * it when done.
 */
export class RemotePool implements JobSubmitter {
  readonly [POOL_BRAND] = true as const;
  readonly sharesMemory = false;
  readonly limiter: CapacityLimiter;
  /** Jobs in flight at once (`maxInFlight`): mapInWorkers runs at most this many batch calls. */
  readonly maxThreads: number;
  readonly queue: string;
  /** Settles when the pool's connections are up and listening for outcomes; rejects if they cannot be. */
  readonly ready: Promise<void>;
  readonly #prefix: string;
  readonly #bullQueue: Queue;
  /** Made once the queue's connection is up (a QueueEvents that never connected cannot be closed). */
  #events: QueueEvents | undefined;
  #checker: Worker | undefined;
  readonly #stalledInterval: number;
  readonly #connection: ConnectionOptions;
  /** triode's own commands: cancel requests, and where the events stream ends. */
  readonly #commands: Redis;
  readonly #queueConnection: Redis;
  readonly #jobs = new Map<string, RemoteRecord>();
  #toSend: RemoteRecord[] = [];
  readonly #idPrefix = `${hostname().replace(/[^\w.-]/g, '_')}-${process.pid}-${randomUUID().slice(0, 8)}`;
  #sequence = 0;
  #closed = false;
  #lastError: Error | undefined;

  constructor(options: RemotePoolOptions) {
    checkOptions('RemotePool', options);
    this.#prefix = checkRedisOptions('RemotePool', options.redis, options.queue, options.prefix);
    const maxInFlight = checkInteger('RemotePool', 'maxInFlight', options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, 1);
    const stalledInterval = checkInteger('RemotePool', 'stalledIntervalMs', options.stalledIntervalMs ?? DEFAULT_STALLED_INTERVAL_MS, 1);
    this.queue = options.queue;
    this.maxThreads = maxInFlight;
    this.limiter = new CapacityLimiter(maxInFlight);
    this.#stalledInterval = stalledInterval;
    this.#connection = bullConnection(options.redis);
    // The Queue gets a connection of the pool's own, which close() can always end.
    this.#queueConnection = openRedis(options.redis);
    this.#queueConnection.on('error', (error: Error) => (this.#lastError = error));
    this.#bullQueue = new Queue(this.queue, { connection: this.#queueConnection, prefix: this.#prefix });
    this.#bullQueue.on('error', (error: Error) => (this.#lastError = error));
    this.#commands = openRedis(options.redis);
    this.#commands.on('error', (error: Error) => (this.#lastError = error));
    // Lost the connection: calls already cancelled stop waiting for an answer that cannot come.
    this.#commands.on('close', () => {
      for (const record of [...this.#jobs.values()]) if (record.cancelSent) this.#abandonUnreachable(record);
    });
    this.ready = this.#start();
    this.ready.catch(() => {}); // seen by whoever awaits it, and by every call (see #send)
  }

  async #start(): Promise<void> {
    await this.#bullQueue.waitUntilReady();
    if (this.#closed) throw new ClosedResourceError('this remote pool was closed');
    const common = { connection: this.#connection, prefix: this.#prefix };
    // Outcomes are read from the events stream after its last entry now: one that comes before
    // the reader's first XREAD is still read (reading from '$' would miss it).
    const last = await this.#commands.xrevrange(`${this.#prefix}:${this.queue}:events`, '+', '-', 'COUNT', 1);
    const lastEventId = last[0]?.[0] ?? '0-0';
    if (this.#closed) throw new ClosedResourceError('this remote pool was closed');
    const events = (this.#events = new QueueEvents(this.queue, { ...common, autorun: false, lastEventId }));
    // Never runs a job: it only runs BullMQ's stalled-job check, with the pool's interval.
    const checker = (this.#checker = new Worker(this.queue, null, { ...common, autorun: false, stalledInterval: this.#stalledInterval, maxStalledCount: 0 }));
    for (const emitter of [events, checker]) {
      (emitter as unknown as NodeJS.EventEmitter).on('error', (error: Error) => (this.#lastError = error));
    }
    events.on('completed', ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => this.#failed(jobId, failedReason));
    events.on('active', ({ jobId }) => {
      const record = this.#jobs.get(jobId);
      if (record !== undefined) record.active = true;
    });
    void events.run().catch((error: Error) => (this.#lastError = error));
    await Promise.all([events.waitUntilReady(), checker.waitUntilReady()]);
    await checker.startStalledCheckTimer();
  }

  /** @internal */
  checkOpen(): void {
    if (this.#closed) throw new ClosedResourceError('this remote pool was closed');
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** @internal one job (see JobSubmitter); the caller holds a limiter token. */
  submit({ url, exportName, args, onSettled, listener, locals, killable = false }: JobRequest): WorkerJobHandle {
    this.checkOpen();
    const data = encodeJobData(url, exportName, args, locals, killable);
    let resolve!: (result: JobResult) => void;
    const settled = new Promise<JobResult>((r) => (resolve = r));
    const record: RemoteRecord = {
      id: `${this.#idPrefix}-${++this.#sequence}`,
      url,
      exportName,
      data,
      killable,
      resolve,
      onSettled,
      listener,
      state: 'pending',
      active: false,
      requested: undefined,
      cancelSent: false,
      killSent: false,
    };
    this.#jobs.set(record.id, record);
    this.#toSend.push(record);
    if (this.#toSend.length === 1) queueMicrotask(() => void this.#send());
    return {
      settled,
      cancel: () => {
        if (record.state === 'pending') {
          this.#toSend.splice(this.#toSend.indexOf(record), 1);
          this.#finish(record, { error: createCancelled('cancelled before it was sent') });
          return true;
        }
        this.#request(record, 'cancel');
        return false;
      },
      kill: () => this.#request(record, 'kill'),
      describe: () =>
        record.state === 'done'
          ? 'done'
          : record.active
            ? `running on a remote worker (queue ${this.queue})`
            : `queued on Redis (queue ${this.queue})`,
    };
  }

  /** Sends the jobs submitted this turn in one addBulk. */
  async #send(): Promise<void> {
    const batch = this.#toSend;
    this.#toSend = [];
    if (batch.length === 0) return;
    for (const record of batch) record.state = 'sending';
    try {
      await this.ready;
      const opts = (record: RemoteRecord) => ({ jobId: record.id, removeOnComplete: true, removeOnFail: true, attempts: 1 });
      // One add each: addBulk builds an ioredis pipeline, which measured costlier than the adds
      // (which ioredis writes in one go anyway when they are issued in the same turn).
      await Promise.all(batch.map((record) => this.#bullQueue.add(JOB_NAME, record.data, opts(record))));
    } catch (error) {
      for (const record of batch) {
        this.#finish(record, { error: new BrokenWorkerError(`could not queue ${record.exportName} on Redis queue ${this.queue}: ${(error as Error)?.message ?? String(error)}`, { cause: error }) });
      }
      return;
    }
    for (const record of batch) {
      if (record.state !== 'sending') continue;
      record.state = 'queued';
      if (record.requested !== undefined) this.#request(record, record.requested);
    }
  }

  /** A cancel (or kill) request for a job in Redis: removed if no worker took it, else told to its worker. */
  #request(record: RemoteRecord, kind: 'cancel' | 'kill'): void {
    if (record.state === 'done') return;
    if (kind === 'kill' && !record.killable) kind = 'cancel';
    if (record.state !== 'queued') {
      if (record.requested !== 'kill') record.requested = kind;
      return;
    }
    if (kind === 'cancel' ? record.cancelSent : record.killSent) return;
    if (kind === 'cancel') record.cancelSent = true;
    else record.killSent = record.cancelSent = true;
    void this.#tell(record, kind);
    if (this.#commands.status !== 'ready') this.#abandonUnreachable(record);
  }

  /**
   * A cancelled call whose cancellation cannot reach Redis (it is down) ends now rather than
   * wait for Redis: its removal or cancel request is sent when Redis is back (ioredis keeps it),
   * so the job never runs, or — taken by a worker meanwhile — runs unobserved, as in 'abandon'.
   */
  #abandonUnreachable(record: RemoteRecord): void {
    this.#finish(record, { error: createCancelled('cancelled while Redis was unreachable; its job is removed (or cancelled) once Redis is back') });
  }

  async #tell(record: RemoteRecord, kind: 'cancel' | 'kill'): Promise<void> {
    try {
      if (kind === 'cancel' && !record.active) {
        // Not taken yet: remove it, so it never runs (0 when a worker holds it by now).
        if ((await this.#bullQueue.remove(record.id)) === 1) {
          this.#finish(record, { error: createCancelled('cancelled before it started') });
          return;
        }
      }
      if (record.state === 'done') return;
      const client = this.#commands;
      await client.set(cancelKey(this.#prefix, this.queue, record.id), kind, 'PX', CANCEL_KEY_TTL_MS);
      await client.publish(cancelChannel(this.#prefix, this.queue), JSON.stringify({ id: record.id, kind }));
    } catch (error) {
      // Redis is unreachable: the call ends when its outcome or the stalled check comes, or at close.
      this.#lastError = error as Error;
    }
  }

  #completed(jobId: string, returnvalue: unknown): void {
    const record = this.#jobs.get(jobId);
    if (record === undefined) return; // another pool's job on the same queue
    let decoded: ReturnType<typeof decodeReturn>;
    try {
      decoded = decodeReturn(returnvalue);
    } catch (error) {
      this.#finish(record, { error: new TypeError(`runInWorker: ${record.exportName}'s ${(error as Error).message}`, { cause: error }) });
      return;
    }
    const { outcome, worker } = decoded;
    this.#finish(
      record,
      outcome.ok
        ? { value: outcome.value }
        : { error: errorFromWire(outcome.error, `at ${record.exportName} (on remote worker ${worker}, queue ${this.queue})`) },
    );
  }

  #failed(jobId: string, failedReason: string): void {
    const record = this.#jobs.get(jobId);
    if (record === undefined) return;
    // Outcomes, errors included, come as return values: a failed job was lost, not thrown.
    this.#finish(
      record,
      record.killSent
        ? { error: createCancelled('the remote worker was killed after the calling task was cancelled') }
        : { error: new BrokenWorkerError(`the remote worker running ${record.exportName} (${record.url}) was lost: ${String(failedReason).slice(0, 500)}`) },
    );
  }

  #finish(record: RemoteRecord, result: JobResult): void {
    if (record.state === 'done') return;
    record.state = 'done';
    this.#jobs.delete(record.id);
    try {
      record.onSettled?.();
    } finally {
      record.resolve(result);
      record.listener?.jobSettled(result);
    }
  }

  /**
   * Closes the pool's connections. Calls still in flight fail with BrokenWorkerError; their jobs
   * are removed from Redis when no worker took them yet, and cancelled on their workers otherwise.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const left = [...this.#jobs.values()];
    const why = this.#lastError !== undefined ? ` (last Redis error: ${this.#lastError.message})` : '';
    // Best effort, and bounded: a Redis that is down would hold these forever.
    const telling = Promise.allSettled(left.filter((record) => record.state === 'queued').map((record) => this.#tell(record, 'cancel')));
    await within(telling, CLOSE_GRACE_MS);
    for (const record of left) this.#finish(record, { error: new BrokenWorkerError(`the remote pool was closed before ${record.exportName} finished${why}`) });
    // Bounded too: a Queue whose Redis went away waits for it to come back before it closes.
    await within(Promise.allSettled([this.#checker?.close(true), this.#events?.close(), this.#bullQueue.close()]), CLOSE_GRACE_MS);
    this.#queueConnection.disconnect();
    this.#commands.disconnect();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Calls now. Not a checkpoint. */
  statistics(): { queuedCalls: number; runningCalls: number; maxInFlight: number } {
    let running = 0;
    for (const record of this.#jobs.values()) if (record.active) running++;
    return { queuedCalls: this.#jobs.size - running + this.limiter.statistics().tasksWaiting, runningCalls: running, maxInFlight: this.maxThreads };
  }
}

/**
 * Opens a RemotePool, waits until it is connected (cancellable: an unreachable Redis waits until
 * the caller's scope gives up), runs `fn(pool)`, and closes the pool when `fn` ends.
 *
 * ```ts
 * await openRemotePool({ redis: 'redis://127.0.0.1:6379', queue: 'hashing' }, async (pool) => {
 *   const digest = await runInWorker(hashModule, 'sha256', [text], { pool });
 * });
 * ```
 */
export async function openRemotePool<T>(options: RemotePoolOptions, fn: (pool: RemotePool) => Promise<T> | T): Promise<T> {
  checkFunction('openRemotePool', 'fn', fn);
  const pool = new RemotePool(options);
  try {
    await abandonOnCancel(pool.ready);
    return await fn(pool);
  } finally {
    await new CancelScope({ shield: true }).run(() => abandonOnCancel(pool.close()));
  }
}
