/**
 * WorkerPool: triode's own worker threads and the main-thread side of the shared-memory
 * scheduler (shared/scheduler.ts holds the layout and the protocol).
 *
 * A call takes a token from the pool's limiter (one per job slot), then its job is published in
 * the submission ring; whichever thread is free takes it, so a thread that finishes a job starts
 * the next without a round trip to the main thread. Results come back through the main thread's
 * reply ring, read in batches: one `Atomics.waitAsync` for the main thread, however many calls are
 * in flight (job-client.ts: the caller's side, shared with the pool threads' nested calls). The
 * main thread never blocks and never spins.
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
import { BrokenWorkerError, createCancelled, ClosedResourceError } from '../../shared/errors.js';
import { errorToWire } from '../../shared/error-wire.js';
import { createRing, openEndpoint, tryWrite, viewRing, WAKE_SOLE_READER, WriteResult, type RingView } from '../../shared/ring.js';
import {
  CANCEL,
  C_MIN_THREADS,
  C_THREADS,
  callerOfSlot,
  clearSpinning,
  liveSpinMask,
  setLive,
  cancelJob,
  createStates,
  generationOfTicket,
  isLive,
  JOB_SLOTS,
  MAIN_SLOTS,
  MAX_CALLING_THREADS,
  OWNER_MASK,
  ownerOf,
  slotOfTicket,
  slotsOf,
  ticketOf,
  wakeIdleThread,
} from '../../shared/scheduler.js';
import { createExportTable, encodeOutcome, ExportTableWriter, type ExportRef } from '../../shared/job-codec.js';
import { ensureRegistry, identityOf, markThreadDead, registerThread } from '../../shared/thread-registry.js';
import { IDLE_EXIT_CODE, type ThreadMessage, type ThreadSetup } from '../../shared/thread-protocol.js';
import { checkFunction, checkInteger, describe, checkOptions } from '../core/validate.js';
import { JobClient, type JobRecord, type JobSubmitter } from './job-client.js';
import { threadPool } from './thread-client.js';

export type { JobResult, JobSubmitter, WorkerJobHandle } from './job-client.js';

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

interface ThreadRecord {
  readonly worker: Worker;
  readonly identity: number;
  /** Which reply ring and slots are its for nested calls (reused when it is replaced). */
  readonly index: number;
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

/** Size of the submission ring and the main thread's reply ring; a job or result larger than a quarter of it takes the side path. */
const RING_BYTES = 1 << 20;
/** Size of a pool thread's reply ring (its nested calls' outcomes). */
const THREAD_RING_BYTES = 256 * 1024;

/**
 * A pool of worker threads for `runInWorker` / `workerModule` / `mapInWorkers`.
 *
 * ```ts
 * await openWorkerPool({ maxThreads: 4 }, async (pool) => {
 *   const digest = await runInWorker(hashModule, 'sha256', [path], { pool });
 * });
 * ```
 */
export class WorkerPool extends JobClient {
  readonly maxThreads: number;
  readonly #minThreads: number;
  readonly #idleTimeoutMs: number;
  readonly #resourceLimits: ResourceLimits | undefined;
  readonly #exports = new ExportTableWriter(createExportTable());
  /** Reply rings: [0] the main thread's, [i + 1] pool thread i's. */
  readonly #replyRings: RingView[];
  readonly #threads = new Map<number, ThreadRecord>();
  /** Which SPINNING bits belong to live threads (see someThreadSpins). */
  readonly #liveSpinning = liveSpinMask();
  readonly #freeIndices: number[] = [];
  /** Arguments of pool threads' nested calls that go by message, until the claiming thread asks. */
  readonly #relayed = new Map<number, { url: string; exportName: string; args: unknown[]; locals: unknown; transfer: unknown[] }>();
  /** Threads that asked for relayed arguments before the caller's message arrived. */
  readonly #awaitingSide = new Map<number, ThreadRecord>();
  /** Failure outcomes for pool threads' nested calls, waiting for a moment their reply ring takes them. */
  readonly #undelivered: Array<[ring: RingView, ticket: number, payload: Uint8Array]> = [];
  #closed = false;

  constructor(options: WorkerPoolOptions = {}) {
    checkOptions('WorkerPool', options);
    const maxThreads = checkInteger('WorkerPool', 'maxThreads', options.maxThreads ?? availableParallelism(), 1);
    const minThreads = checkInteger('WorkerPool', 'minThreads', options.minThreads ?? 0, 0);
    if (minThreads > maxThreads) throw new RangeError('WorkerPool: minThreads must not exceed maxThreads');
    const idleTimeout = options.idleTimeoutMs ?? 1000;
    if (typeof idleTimeout !== 'number' || Number.isNaN(idleTimeout) || idleTimeout < 0) {
      throw new RangeError(`WorkerPool: idleTimeoutMs must be a non-negative number, got ${describe(idleTimeout)}`);
    }
    if (options.resourceLimits !== undefined && (options.resourceLimits === null || typeof options.resourceLimits !== 'object')) {
      throw new TypeError(`WorkerPool: resourceLimits must be an object, got ${describe(options.resourceLimits)}`);
    }
    const states = createStates();
    const submissions = viewRing(createRing(RING_BYTES));
    const replyRings = [viewRing(createRing(RING_BYTES))];
    for (let i = 0; i < Math.min(maxThreads, MAX_CALLING_THREADS); i++) replyRings.push(viewRing(createRing(THREAD_RING_BYTES)));
    // Each ring's reader, for the ring's rules (a ring with no receiver refuses frames).
    for (const ring of [submissions, ...replyRings]) openEndpoint(ring, 'receive');
    super(states, submissions, replyRings[0]!, 0, slotsOf(0, maxThreads));
    this.maxThreads = maxThreads;
    this.#minThreads = minThreads;
    this.#idleTimeoutMs = idleTimeout;
    this.#resourceLimits = options.resourceLimits;
    this.#replyRings = replyRings;
    Atomics.store(states, C_MIN_THREADS, minThreads);
    for (let i = maxThreads - 1; i >= 0; i--) this.#freeIndices.push(i);
    for (let i = 0; i < minThreads; i++) this.#spawn();
  }

  /** @internal */
  checkOpen(): void {
    if (this.#closed) throw new ClosedResourceError('this worker pool was closed');
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  protected exportRef(url: string, exportName: string): ExportRef {
    return this.#exports.refOf(url, exportName);
  }

  protected inFlightChanged(busy: boolean): void {
    for (const thread of this.#threads.values()) {
      if (busy) thread.worker.ref();
      else thread.worker.unref();
    }
  }

  /** Only live threads' SPINNING bits count here: garbage in the word cannot stop wake-ups. */
  protected override get liveSpinning(): Int32Array {
    return this.#liveSpinning;
  }

  protected published(): void {
    // Enough threads for this thread's own calls: nothing to count. (Pool threads' nested calls
    // ask for threads themselves, with a 'spawn' message; counting them here scans every job slot,
    // ~60 µs a call.)
    if (this.#threads.size >= Math.min(this.maxThreads, Math.max(this.#minThreads, this.inFlight))) return;
    this.#ensureThreads();
  }

  protected canSend(): boolean {
    return true;
  }

  protected killJob(record: JobRecord): void {
    const owner = ownerOf(this.states, record.slot);
    for (const thread of this.#threads.values()) {
      if ((thread.identity & OWNER_MASK) === owner) void thread.worker.terminate();
    }
  }

  // ---- threads ---------------------------------------------------------------------------------

  #ensureThreads(): void {
    if (this.#threads.size >= this.maxThreads || this.#closed) return; // (the common case: nothing to count)
    // Nested calls count too: a thread waiting on them takes other jobs meanwhile, but queued
    // jobs beyond the threads' reach must not wait for a thread that is never started.
    // (Counting them scans every slot: only when this thread's own calls do not already ask for every thread.)
    const own = Math.max(this.#minThreads, this.inFlight);
    const wanted = own >= this.maxThreads ? this.maxThreads : Math.min(this.maxThreads, own + this.#nestedInFlight());
    while (!this.#closed && this.#threads.size < wanted && this.#freeIndices.length > 0) this.#spawn();
  }

  /** Jobs in flight that pool threads made (nested calls), from the shared STATE words. */
  #nestedInFlight(): number {
    if (this.#threads.size === 0) return 0;
    let count = 0;
    for (let slot = MAIN_SLOTS; slot < JOB_SLOTS; slot++) if (isLive(Atomics.load(this.states, slot))) count++;
    return count;
  }

  /**
   * The nested calls that thread `owner` made and that are not settled, as dumpTaskTree shows
   * them: `; nested: [running on worker thread 4; nested: [queued], queued]`. Read from the STATE
   * words of the thread's slots (a thread running several async calls shows all their nested
   * calls together). A thread also runs nested calls of its own while its calls wait: those are
   * not expanded again (`path` holds the threads being expanded).
   */
  protected override nestedDetail(owner: number, path: number[] = []): string {
    let index: number | undefined;
    for (const thread of this.#threads.values()) if ((thread.identity & OWNER_MASK) === owner) index = thread.index;
    if (index === undefined) return '';
    path.push(owner);
    const calls: string[] = [];
    for (const slot of slotsOf(index + 1, this.maxThreads)) {
      const word = Atomics.load(this.states, slot);
      if (!isLive(word)) continue;
      const runner = word & OWNER_MASK;
      const cancelled = (word & CANCEL) !== 0 ? ', cancel requested' : '';
      const below = runner !== 0 && !path.includes(runner) ? this.nestedDetail(runner, path) : '';
      calls.push(runner === 0 ? `queued${cancelled}` : `running on worker thread ${runner - 1}${cancelled}${below}`);
    }
    path.pop();
    return calls.length === 0 ? '' : `; nested: [${calls.join(', ')}]`;
  }

  #spawn(): void {
    const index = this.#freeIndices.pop()!;
    const setup: ThreadSetup = {
      submissions: this.submissions.sab,
      replies: this.#replyRings.map((ring) => ring.sab),
      index,
      maxThreads: this.maxThreads,
      states: this.states.buffer as SharedArrayBuffer,
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
    Atomics.add(this.states, C_THREADS, 1);
    const thread: ThreadRecord = { worker, identity, index, error: undefined, ready: false };
    this.#threads.set(identity, thread);
    setLive(this.#liveSpinning, index, true);
    worker.on('error', (error) => (thread.error ??= error));
    worker.on('message', (message: unknown) => this.#onMessage(thread, message));
    worker.on('messageerror', (error) => warn(`a message from a worker thread could not be decoded: ${error.message}`));
    worker.on('exit', (code) => this.#onExit(thread, code));
    if (this.inFlight === 0) worker.unref();
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
    if (type === 'spawn') {
      // A thread's nested calls are queued: make sure a thread will take them.
      this.#ensureThreads();
      return;
    }
    if (typeof ticket !== 'number') return;
    const slot = slotOfTicket(ticket);
    const caller = callerOfSlot(slot, this.maxThreads);
    if (caller !== 0) {
      this.#relayMessage(thread, type, ticket, caller, message as Record<string, unknown>);
      return;
    }
    const record = this.jobs.get(slot);
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
        this.finish(current, { error: new TypeError(`runInWorker: the arguments of ${current.exportName} cannot be sent to a worker thread`, { cause: error }) });
      }
    } else if (type === 'result' && current !== undefined) {
      const { bytes } = message as { bytes?: unknown };
      if (bytes instanceof Uint8Array) this.complete(ticket, bytes);
    }
  }

  /**
   * The main thread's part in pool threads' nested calls: it keeps arguments that go by message
   * until the claiming thread fetches them, forwards outcomes too large for a reply ring to the
   * calling thread, and terminates a thread for a nested call in kill mode.
   */
  #relayMessage(thread: ThreadRecord, type: unknown, ticket: number, caller: number, message: Record<string, unknown>): void {
    const fromCaller = caller === thread.index + 1;
    if (type === 'side' && fromCaller) {
      const { url, exportName, args, locals, transfer } = message;
      if (typeof url === 'string' && typeof exportName === 'string' && Array.isArray(args)) {
        this.#relayed.set(ticket, { url, exportName, args, locals, transfer: Array.isArray(transfer) ? transfer : [] });
        // The claiming thread may have asked first (messages from two threads arrive in any order).
        const waiting = this.#awaitingSide.get(ticket);
        if (waiting !== undefined) {
          this.#awaitingSide.delete(ticket);
          this.#handOver(waiting, ticket);
        }
      }
    } else if (type === 'drop' && fromCaller) {
      this.#relayed.delete(ticket);
    } else if (type === 'fetch') {
      if (this.#relayed.has(ticket)) this.#handOver(thread, ticket);
      else this.#awaitingSide.set(ticket, thread);
    } else if (type === 'result') {
      const { bytes } = message;
      for (const other of this.#threads.values()) {
        if (other.index + 1 === caller && bytes instanceof Uint8Array) other.worker.postMessage({ type: 'result', ticket, bytes }, [bytes.buffer as ArrayBuffer]);
      }
    } else if (type === 'kill' && fromCaller) {
      const owner = ownerOf(this.states, slotOfTicket(ticket));
      if (owner === 0 || owner === OWNER_MASK) return;
      for (const other of this.#threads.values()) if ((other.identity & OWNER_MASK) === owner) void other.worker.terminate();
    }
  }

  /** Gives relayed arguments to the thread that claimed their job. */
  #handOver(thread: ThreadRecord, ticket: number): void {
    const job = this.#relayed.get(ticket)!;
    this.#relayed.delete(ticket);
    try {
      thread.worker.postMessage({ type: 'job', ticket, url: job.url, exportName: job.exportName, args: job.args, locals: job.locals }, job.transfer as TransferListItem[]);
    } catch {
      thread.worker.postMessage({ type: 'job', ticket, missing: true });
    }
  }

  /**
   * A thread is gone. Results it published still count; then exactly its own jobs fail (Cancelled
   * for the one it was killed for), at once; queued jobs stay for the other threads.
   */
  #onExit(thread: ThreadRecord, code: number): void {
    this.#threads.delete(thread.identity);
    this.#freeIndices.push(thread.index);
    markThreadDead(thread.identity);
    if (code !== IDLE_EXIT_CODE) Atomics.sub(this.states, C_THREADS, 1);
    // It may have died spinning for jobs: nobody would wake a sleeping thread for them then.
    setLive(this.#liveSpinning, thread.index, false);
    clearSpinning(this.states, thread.index);
    wakeIdleThread(this.submissions, this.states, this.#liveSpinning, true);
    this.drainReplies();
    const owner = thread.identity & OWNER_MASK;
    const why = this.#closed ? 'the pool was closed' : thread.error !== undefined ? thread.error.message : `it exited with code ${code}`;
    const died = (exportName: string, url: string) =>
      new BrokenWorkerError(`the worker thread running ${exportName} (${url}) died: ${why}`, { cause: thread.error });
    for (const record of this.jobs.values()) {
      if (ownerOf(this.states, record.slot) !== owner) continue;
      this.finish(record, record.killed ? { error: createCancelled('the worker was killed after the calling task was cancelled') } : { error: died(record.exportName, record.url) });
    }
    this.#failNestedOf(owner, thread.index, died);
    if (this.#closed) return;
    if (!thread.ready && ![...this.#threads.values()].some((other) => other.ready)) {
      // It died before running a line of its loop, and no thread is up: a new thread would die
      // too. Fail the queued calls with the reason instead of starting threads forever; the next
      // call tries again. (With a thread up, the queued calls are its to take.)
      for (const record of this.jobs.values()) {
        if (ownerOf(this.states, record.slot) !== 0) continue;
        if (!cancelJob(this.states, record.slot)) continue;
        this.finish(record, { error: new BrokenWorkerError(`worker threads cannot start: ${why}`, { cause: thread.error }) });
      }
      return;
    }
    this.#ensureThreads();
  }

  /**
   * The nested calls a dead thread touched: those it was running fail for their callers (another
   * pool thread) with an outcome written into the caller's reply ring; those it had made are
   * cancelled (its replacement, reading the same reply ring, releases their slots).
   */
  #failNestedOf(owner: number, index: number, died: (exportName: string, url: string) => Error): void {
    for (let slot = MAIN_SLOTS; slot < JOB_SLOTS; slot++) {
      const word = Atomics.load(this.states, slot);
      const caller = callerOfSlot(slot, this.maxThreads);
      if ((word & OWNER_MASK) === owner) {
        const ring = this.#replyRings[caller];
        const ticket = ticketOf(slot, (word >>> 20) & 0x3ff);
        if (ring !== undefined) this.#deliver(ring, ticket, encodeOutcome({ ok: false, error: errorToWire(died('a nested call', 'a worker thread')) }).slice());
      } else if (caller === index + 1 && (word & OWNER_MASK) !== OWNER_MASK) {
        cancelJob(this.states, slot); // made by the dead thread: nobody waits for it any more
      }
    }
  }

  /** Writes an outcome into a pool thread's reply ring, now or as soon as its lock is free. */
  #deliver(ring: RingView, ticket: number, payload: Uint8Array): void {
    if (this.#undelivered.length === 0 && tryWrite(ring, ticket, payload, WAKE_SOLE_READER) === WriteResult.Written) return;
    this.#undelivered.push([ring, ticket, payload]);
    const retry = () => {
      while (this.#undelivered.length > 0) {
        const [r, t, p] = this.#undelivered[0]!;
        if (tryWrite(r, t, p, WAKE_SOLE_READER) !== WriteResult.Written) {
          setTimeout(retry, 1).unref();
          return;
        }
        this.#undelivered.shift();
      }
    };
    if (this.#undelivered.length === 1) setImmediate(retry).unref();
  }

  /** Stops every thread. Calls still running fail with BrokenWorkerError. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exits = [...this.#threads.values()].map((thread) => new Promise((resolve) => thread.worker.once('exit', resolve)));
    for (const thread of this.#threads.values()) void thread.worker.terminate();
    await Promise.all(exits);
    for (const record of [...this.jobs.values()]) {
      this.finish(record, { error: new BrokenWorkerError('the worker pool was closed before the call ran') });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Threads and calls now. Not a checkpoint. */
  statistics(): WorkerPoolStatistics {
    let running = 0;
    for (const record of this.jobs.values()) if (ownerOf(this.states, record.slot) !== 0) running++;
    const queuedInPool = this.inFlight - running;
    return {
      maxThreads: this.maxThreads,
      threads: this.#threads.size,
      idleThreads: Math.max(0, this.#threads.size - running),
      runningCalls: running,
      queuedCalls: queuedInPool + this.limiter.statistics().tasksWaiting,
      completedCalls: this.completed,
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

/**
 * The pool that serves calls naming none: inside a pool thread, the pool running it (nested
 * calls); elsewhere one per process, sized to the machine, never closed.
 */
export function defaultWorkerPool(): JobSubmitter {
  const own = threadPool();
  if (own !== undefined) return own;
  const g = globalThis as GlobalWithPool;
  return (g[DEFAULT_POOL] ??= new WorkerPool());
}
