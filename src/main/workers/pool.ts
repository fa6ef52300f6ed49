/**
 * WorkerPool: triode's own worker threads and the main-thread side of the shared-memory
 * scheduler (shared/scheduler.ts holds the layout and the protocol).
 *
 * A call takes a token from the pool's limiter (one per job slot), then its job is published in
 * the submission ring; whichever thread is free takes it, so a thread that finishes a job starts
 * the next without a round trip to the main thread. Results come back through the completion
 * ring, read in batches: one `Atomics.waitAsync` for the main thread, however many calls are in
 * flight. The main thread never blocks and never spins.
 *
 * Why not piscina any more: piscina dispatches one `postMessage` per call and keeps the next job
 * in its main-thread queue, so every call pays a full round trip between threads; its queue
 * limit surfaced as false "worker died" errors; an error thrown by a timer between calls was
 * blamed on the next call; and a result that could not be deserialized hung its call. Threads
 * here are plain `Worker`s: the pool starts them on demand (up to maxThreads), replaces them when
 * they die, applies `resourceLimits`, lets idle ones leave after `idleTimeoutMs` (keeping
 * `minThreads`), and keeps them unref'd while no call is in flight, so a pool never keeps the
 * process alive by itself.
 */
import { availableParallelism } from 'node:os';
import { Worker, type ResourceLimits, type TransferListItem } from 'node:worker_threads';
import { BrokenWorkerError, Cancelled, ClosedResourceError, TriodeInternalError } from '../../shared/errors.js';
import { errorFromWire } from '../../shared/error-wire.js';
import { createRing, H_DATA, H_WAIT_RECV, maxPayload, openEndpoint, readFrames, tryWrite, viewRing, WriteResult, type RingView } from '../../shared/ring.js';
import {
  CANCEL,
  C_MIN_THREADS,
  C_THREADS,
  cancelJob,
  createStates,
  generationOfTicket,
  JOB_SLOTS,
  OWNER_MASK,
  ownerOf,
  queueJob,
  releaseJob,
  slotOfTicket,
  ticketOf,
} from '../../shared/scheduler.js';
import { createExportTable, decodeOutcome, encodeJob, encodeSideJob, ExportTableWriter, type JobOutcome } from '../../shared/job-codec.js';
import { ensureRegistry, identityOf, markThreadDead, registerThread } from '../../shared/thread-registry.js';
import { IDLE_EXIT_CODE, type ThreadMessage, type ThreadSetup } from '../../shared/thread-protocol.js';
import { checkFunction, checkInteger, describe } from '../core/validate.js';
import { CapacityLimiter } from '../sync/capacity-limiter.js';

export interface WorkerPoolOptions {
  /** Most threads at once (default: `os.availableParallelism()`). */
  maxThreads?: number;
  /** Threads kept even when idle (default 0). */
  minThreads?: number;
  /** An idle thread above `minThreads` exits after this many ms (default 1000). */
  idleTimeoutMs?: number;
  /** V8 limits for each thread; a thread that exceeds them dies and its call gets BrokenWorkerError. */
  resourceLimits?: ResourceLimits;
}

export interface WorkerPoolStatistics {
  maxThreads: number;
  threads: number;
  idleThreads: number;
  runningCalls: number;
  queuedCalls: number;
  completedCalls: number;
}

/** How a job ended, for its caller: a value or an error (never rejects). */
export type JobResult = { value: unknown } | { error: unknown };

/** @internal a job handed to the pool. */
export interface WorkerJobHandle {
  /** Settles when the job is over: its value or error (never rejects). */
  readonly settled: Promise<JobResult>;
  /** Sets the cancel bit; true when the job had not started (it never will). */
  cancel(): boolean;
  /** Terminates the thread running the job; the job then settles with Cancelled. */
  kill(): void;
  /** Where the job is now, for dumpTaskTree: "queued", "running on thread N", "done". */
  describe(): string;
}

interface JobRecord {
  readonly slot: number;
  readonly generation: number;
  readonly url: string;
  readonly exportName: string;
  /** Arguments for the side path (transfer lists, shared buffers, values too large for the ring). */
  readonly side: { args: unknown[]; transfer: TransferListItem[]; locals: Array<[string, unknown]> | undefined } | undefined;
  readonly resolve: (result: JobResult) => void;
  readonly onSettled: (() => void) | undefined;
  killed: boolean;
}

interface ThreadRecord {
  readonly worker: Worker;
  readonly identity: number;
  error: Error | undefined;
  /** Set by the thread's first message: it loaded and runs its loop. */
  ready: boolean;
}

/**
 * The parent's execArgv without what only makes sense for the main script (`-e` code and its
 * `--input-type`), which would stop every thread from starting.
 */
function threadExecArgv(): string[] | undefined {
  const out: string[] = [];
  const argv = process.execArgv;
  // Left alone (inherited, per-process flags ignored by Node) unless there is something to drop.
  if (!argv.some((arg) => /^(-e|--eval|-p|--print|--input-type)(=|$)/.test(arg))) return undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-e' || arg === '--eval' || arg === '-p' || arg === '--print') {
      i++;
      continue;
    }
    if (arg.startsWith('--input-type') || arg.startsWith('--eval=') || arg.startsWith('--print=')) continue;
    out.push(arg);
  }
  return out;
}

/** Where the thread entry is, next to this module in `dist/` (named by path, never imported). */
const entryUrl = new URL('./worker-entry.js', import.meta.url);

/** Size of each ring; a job or result larger than a quarter of it takes the side path. */
const RING_BYTES = 1 << 20;

/**
 * A pool of worker threads for `runInWorker` / `workerModule` / `mapInWorkers`.
 *
 * ```ts
 * await openWorkerPool({ maxThreads: 4 }, async (pool) => {
 *   const digest = await runInWorker(hashModule, 'sha256', [path], { pool });
 * });
 * ```
 */
export class WorkerPool {
  /** @internal calls wait here for a job slot */ readonly limiter = new CapacityLimiter(JOB_SLOTS);
  readonly #maxThreads: number;
  readonly #minThreads: number;
  readonly #idleTimeoutMs: number;
  readonly #resourceLimits: ResourceLimits | undefined;
  readonly #submissions: RingView;
  readonly #completions: RingView;
  readonly #states = createStates();
  readonly #exports = new ExportTableWriter(createExportTable());
  /** Jobs published since the last wake-up of sleeping threads (one notify per batch). */
  #unannounced = 0;
  readonly #jobs: Array<JobRecord | undefined> = new Array(JOB_SLOTS);
  readonly #freeSlots: number[] = [];
  readonly #threads = new Map<number, ThreadRecord>();
  /** Job frames that did not fit the submission ring yet, in order. */
  readonly #backlog: Array<[ticket: number, payload: Uint8Array]> = [];
  #inFlight = 0;
  #completed = 0;
  #armed = false;
  #closed = false;

  constructor(options: WorkerPoolOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`WorkerPool: options must be an object, got ${describe(options)}`);
    }
    this.#maxThreads = checkInteger('WorkerPool', 'maxThreads', options.maxThreads ?? availableParallelism(), 1);
    this.#minThreads = checkInteger('WorkerPool', 'minThreads', options.minThreads ?? 0, 0);
    if (this.#minThreads > this.#maxThreads) throw new RangeError('WorkerPool: minThreads must not exceed maxThreads');
    const idleTimeout = options.idleTimeoutMs ?? 1000;
    if (typeof idleTimeout !== 'number' || Number.isNaN(idleTimeout) || idleTimeout < 0) {
      throw new RangeError(`WorkerPool: idleTimeoutMs must be a non-negative number, got ${describe(idleTimeout)}`);
    }
    if (options.resourceLimits !== undefined && (options.resourceLimits === null || typeof options.resourceLimits !== 'object')) {
      throw new TypeError(`WorkerPool: resourceLimits must be an object, got ${describe(options.resourceLimits)}`);
    }
    this.#idleTimeoutMs = idleTimeout;
    this.#resourceLimits = options.resourceLimits;
    this.#submissions = viewRing(createRing(RING_BYTES));
    this.#completions = viewRing(createRing(RING_BYTES));
    // The rings' readers, for the ring's rules (a ring with no receiver refuses frames).
    openEndpoint(this.#submissions, 'receive');
    openEndpoint(this.#completions, 'receive');
    Atomics.store(this.#states, C_MIN_THREADS, this.#minThreads);
    for (let slot = JOB_SLOTS - 1; slot >= 0; slot--) this.#freeSlots.push(slot);
    for (let i = 0; i < this.#minThreads; i++) this.#spawn();
  }

  /** @internal */
  checkOpen(): void {
    if (this.#closed) throw new ClosedResourceError('this worker pool was closed');
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * @internal publishes one job (the caller holds a limiter token). `onSettled` (idempotent)
   * runs when the job settles, and at once when it is cancelled before it starts. With a
   * `transfer` list (empty for arguments holding shared memory) the arguments go by message.
   */
  submit(
    url: string,
    exportName: string,
    args: unknown[],
    transfer: TransferListItem[] | undefined,
    onSettled?: () => void,
    locals?: Array<[string, unknown]>,
    killable = false,
  ): WorkerJobHandle {
    this.checkOpen();
    const slot = this.#freeSlots.pop();
    if (slot === undefined) throw new TriodeInternalError('worker pool: no free job slot although a token was held');
    const generation = queueJob(this.#states, slot);
    // A transfer list (even empty: the caller found shared memory in the arguments) takes the
    // message path; so do arguments that do not serialize (endpoints) or are large.
    const inline =
      transfer === undefined ? encodeJob(this.#exports.refOf(url, exportName), args, maxPayload(this.#submissions) >> 2, locals, killable) : undefined;
    let resolve!: (result: JobResult) => void;
    const settled = new Promise<JobResult>((r) => (resolve = r));
    const record: JobRecord = {
      slot,
      generation,
      url,
      exportName,
      side: inline === undefined ? { args, transfer: transfer ?? [], locals } : undefined,
      resolve,
      onSettled,
      killed: false,
    };
    this.#jobs[slot] = record;
    if (this.#inFlight++ === 0) this.#refThreads(true);
    this.#publish(ticketOf(slot, generation), inline ?? encodeSideJob(killable));
    this.#ensureThreads();
    this.#armCompletions();
    return {
      settled,
      cancel: () => {
        if (this.#jobs[slot] !== record) return false;
        if (!cancelJob(this.#states, slot)) return false;
        // Never claimed: no thread will start it (its frame is dropped by whoever takes it).
        this.#finish(record, { error: new Cancelled('cancelled before it started') });
        return true;
      },
      kill: () => {
        // An outcome already published means the thread is done with the job: nothing to kill
        // (and it may be running another job by now). A thread that publishes one after this
        // point waits for its release before it takes another job (see releaseJob).
        this.#drainCompletions();
        if (this.#jobs[slot] !== record) return;
        record.killed = true;
        const owner = ownerOf(this.#states, slot);
        for (const thread of this.#threads.values()) {
          if ((thread.identity & OWNER_MASK) === owner) void thread.worker.terminate();
        }
      },
      describe: () => {
        if (this.#jobs[slot] !== record) return 'done';
        const word = Atomics.load(this.#states, slot);
        const owner = word & OWNER_MASK;
        const cancelled = (word & CANCEL) !== 0 ? ', cancel requested' : '';
        // A thread's identity is its threadId + 1 (thread-registry.ts).
        return owner === 0 ? `queued${cancelled}` : `running on worker thread ${owner - 1}${cancelled}`;
      },
    };
  }

  /**
   * Writes a job frame (or keeps a copy, in order, behind those that did not fit yet), and
   * schedules one wake-up of sleeping threads for all the jobs published in this turn.
   */
  #publish(ticket: number, payload: Uint8Array): void {
    if (this.#backlog.length === 0 && tryWrite(this.#submissions, ticket, payload, 0) === WriteResult.Written) {
      if (this.#unannounced++ === 0) queueMicrotask(this.#announce);
      return;
    }
    this.#backlog.push([ticket, payload.slice()]);
  }

  /** Wakes as many sleeping threads as jobs were published (a thread that is awake takes them itself). */
  readonly #announce = (): void => {
    const count = this.#unannounced;
    this.#unannounced = 0;
    const header = this.#submissions.header;
    if (Atomics.load(header, H_WAIT_RECV) > 0) Atomics.notify(header, H_DATA, count);
  };

  /** Moves backlogged job frames into the ring as space frees up (after each batch of completions). */
  #flushBacklog(): void {
    while (this.#backlog.length > 0) {
      const [ticket, payload] = this.#backlog[0]!;
      if (tryWrite(this.#submissions, ticket, payload, 0) !== WriteResult.Written) return;
      this.#backlog.shift();
      if (this.#unannounced++ === 0) queueMicrotask(this.#announce);
    }
  }

  /** Keeps one Atomics.waitAsync on the completion ring while calls are in flight. */
  #armCompletions(): void {
    while (!this.#armed && this.#inFlight > 0) {
      const header = this.#completions.header;
      const seen = Atomics.load(header, H_DATA);
      this.#drainCompletions();
      if (this.#inFlight === 0) return;
      Atomics.add(header, H_WAIT_RECV, 1);
      const waiting = Atomics.waitAsync(header, H_DATA, seen);
      if (!waiting.async) {
        Atomics.sub(header, H_WAIT_RECV, 1);
        continue;
      }
      this.#armed = true;
      void waiting.value.then(() => {
        Atomics.sub(header, H_WAIT_RECV, 1);
        this.#armed = false;
        this.#armCompletions();
      });
    }
  }

  /** Settles every call whose result is in the completion ring. */
  #drainCompletions(): void {
    while (readFrames(this.#completions, 1024, (ticket, payload) => this.#complete(ticket, payload)) > 0) {
      // keep reading: a batch is at most what the scratch holds
    }
    this.#flushBacklog();
  }

  /** One result, from the ring or the side path: decoded defensively, for its own call only. */
  #complete(ticket: number, payload: Uint8Array): void {
    const record = this.#jobs[slotOfTicket(ticket)];
    if (record === undefined || record.generation !== generationOfTicket(ticket)) return; // stale or forged
    let outcome: JobOutcome;
    try {
      outcome = decodeOutcome(payload);
    } catch (error) {
      const reason = (error as Error).message;
      this.#finish(record, { error: new TypeError(`runInWorker: ${record.exportName}'s ${reason}`, { cause: error }) });
      return;
    }
    if (outcome.ok) {
      this.#finish(record, { value: outcome.value });
    } else {
      this.#finish(record, { error: errorFromWire(outcome.error, `at ${record.exportName} (in a worker thread, ${record.url})`) });
    }
  }

  #finish(record: JobRecord, result: JobResult): void {
    if (this.#jobs[record.slot] !== record) return;
    this.#jobs[record.slot] = undefined;
    releaseJob(this.#states, record.slot);
    this.#freeSlots.push(record.slot);
    this.#completed++;
    if (--this.#inFlight === 0) this.#refThreads(false);
    try {
      record.onSettled?.();
    } finally {
      record.resolve(result);
    }
  }

  // ---- threads ---------------------------------------------------------------------------------

  #ensureThreads(): void {
    const wanted = Math.min(this.#maxThreads, Math.max(this.#minThreads, this.#inFlight));
    while (!this.#closed && this.#threads.size < wanted) this.#spawn();
  }

  #spawn(): void {
    const setup: ThreadSetup = {
      submissions: this.#submissions.sab,
      completions: this.#completions.sab,
      states: this.#states.buffer as SharedArrayBuffer,
      exports: this.#exports.sab,
      idleTimeoutMs: this.#idleTimeoutMs,
    };
    ensureRegistry(); // before the Worker starts, or it would not inherit it
    let worker: Worker;
    try {
      worker = new Worker(entryUrl, { workerData: setup, resourceLimits: this.#resourceLimits, execArgv: threadExecArgv() });
    } catch (error) {
      // A flag a thread cannot take (a per-process one next to `-e`): start it with none.
      if ((error as { code?: unknown })?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
      worker = new Worker(entryUrl, { workerData: setup, resourceLimits: this.#resourceLimits, execArgv: [] });
    }
    const identity = identityOf(worker.threadId);
    // Registered before it runs a line, so its locks and jobs are known to be its own.
    registerThread(identity);
    Atomics.add(this.#states, C_THREADS, 1);
    const thread: ThreadRecord = { worker, identity, error: undefined, ready: false };
    this.#threads.set(identity, thread);
    worker.on('error', (error) => (thread.error ??= error));
    worker.on('message', (message: unknown) => this.#onMessage(thread, message));
    worker.on('messageerror', (error) => warn(`a message from a worker thread could not be decoded: ${error.message}`));
    worker.on('exit', (code) => this.#onExit(thread, code));
    if (this.#inFlight === 0) worker.unref();
  }

  #refThreads(ref: boolean): void {
    for (const thread of this.#threads.values()) {
      if (ref) thread.worker.ref();
      else thread.worker.unref();
    }
  }

  /** Messages from a thread: side-path jobs and results, and errors that belong to no call. Shapes checked. */
  #onMessage(thread: ThreadRecord, message: unknown): void {
    if (message === null || typeof message !== 'object') return;
    const { type, ticket } = message as ThreadMessage;
    if (type === 'ready') {
      thread.ready = true;
      return;
    }
    if (type === 'stray') {
      const { module, text } = message as { module?: unknown; text?: unknown };
      warn(`a worker thread failed between calls (${String(text)}); last module: ${String(module)}. The thread is replaced.`);
      return;
    }
    if (typeof ticket !== 'number') return;
    const record = this.#jobs[slotOfTicket(ticket)];
    const current = record !== undefined && record.generation === generationOfTicket(ticket) ? record : undefined;
    if (type === 'fetch') {
      if (current?.side === undefined) {
        thread.worker.postMessage({ type: 'job', ticket, missing: true });
        return;
      }
      try {
        thread.worker.postMessage(
          { type: 'job', ticket, url: current.url, exportName: current.exportName, args: current.side.args, locals: current.side.locals },
          current.side.transfer,
        );
      } catch (error) {
        thread.worker.postMessage({ type: 'job', ticket, missing: true });
        this.#finish(current, { error: new TypeError(`runInWorker: the arguments of ${current.exportName} cannot be sent to a worker thread`, { cause: error }) });
      }
    } else if (type === 'result' && current !== undefined) {
      const { bytes } = message as { bytes?: unknown };
      if (bytes instanceof Uint8Array) this.#complete(ticket, bytes);
    }
  }

  /**
   * A thread is gone. Results it published still count; then exactly its own jobs fail (Cancelled
   * for the one it was killed for), at once; queued jobs stay for the other threads.
   */
  #onExit(thread: ThreadRecord, code: number): void {
    this.#threads.delete(thread.identity);
    markThreadDead(thread.identity);
    if (code !== IDLE_EXIT_CODE) Atomics.sub(this.#states, C_THREADS, 1);
    this.#drainCompletions();
    const owner = thread.identity & OWNER_MASK;
    const why = this.#closed ? 'the pool was closed' : thread.error !== undefined ? thread.error.message : `it exited with code ${code}`;
    for (const record of this.#jobs) {
      if (record === undefined || ownerOf(this.#states, record.slot) !== owner) continue;
      this.#finish(
        record,
        record.killed
          ? { error: new Cancelled('the worker was killed after the calling task was cancelled') }
          : { error: new BrokenWorkerError(`the worker thread running ${record.exportName} (${record.url}) died: ${why}`, { cause: thread.error }) },
      );
    }
    if (this.#closed) return;
    if (!thread.ready && ![...this.#threads.values()].some((other) => other.ready)) {
      // It died before running a line of its loop, and no thread is up: a new thread would die
      // too. Fail the queued calls with the reason instead of starting threads forever; the next
      // call tries again. (With a thread up, the queued calls are its to take.)
      for (const record of this.#jobs) {
        if (record === undefined || ownerOf(this.#states, record.slot) !== 0) continue;
        if (!cancelJob(this.#states, record.slot)) continue;
        this.#finish(record, { error: new BrokenWorkerError(`worker threads cannot start: ${why}`, { cause: thread.error }) });
      }
      return;
    }
    this.#ensureThreads();
  }

  /** Stops every thread. Calls still running fail with BrokenWorkerError. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exits = [...this.#threads.values()].map((thread) => new Promise((resolve) => thread.worker.once('exit', resolve)));
    for (const thread of this.#threads.values()) void thread.worker.terminate();
    await Promise.all(exits);
    for (const record of this.#jobs) {
      if (record !== undefined) this.#finish(record, { error: new BrokenWorkerError('the worker pool was closed before the call ran') });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Threads and calls now. Not a checkpoint. */
  statistics(): WorkerPoolStatistics {
    let running = 0;
    for (const record of this.#jobs) if (record !== undefined && ownerOf(this.#states, record.slot) !== 0) running++;
    const queuedInPool = this.#inFlight - running;
    return {
      maxThreads: this.#maxThreads,
      threads: this.#threads.size,
      idleThreads: Math.max(0, this.#threads.size - running),
      runningCalls: running,
      queuedCalls: queuedInPool + this.limiter.statistics().tasksWaiting,
      completedCalls: this.#completed,
    };
  }
}

function warn(text: string): void {
  process.emitWarning(text, { type: 'TriodeWorkerWarning' });
}

/**
 * Opens a pool, runs `fn(pool)`, and closes the pool when `fn` ends (by then every call made in
 * it has finished, since calls are awaited inside the block).
 */
export async function openWorkerPool<T>(options: WorkerPoolOptions, fn: (pool: WorkerPool) => Promise<T> | T): Promise<T> {
  checkFunction('openWorkerPool', 'fn', fn);
  const pool = new WorkerPool(options);
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

const DEFAULT_POOL = Symbol.for('triode.defaultWorkerPool');
type GlobalWithPool = typeof globalThis & { [DEFAULT_POOL]?: WorkerPool };

/** The pool that serves calls naming none: one per process, sized to the machine, never closed. */
export function defaultWorkerPool(): WorkerPool {
  const g = globalThis as GlobalWithPool;
  return (g[DEFAULT_POOL] ??= new WorkerPool());
}
