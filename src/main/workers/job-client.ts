/**
 * The caller's side of the scheduler (shared/scheduler.ts), on whichever thread makes calls: the
 * main thread (through its WorkerPool) and every pool thread (nested calls, through its
 * ThreadClient). Each caller owns a range of job slots and a reply ring: it publishes jobs in the
 * pool's one submission ring, tagged with its reply ring, and reads the outcomes of its own calls
 * from its reply ring in batches, with one `Atomics.waitAsync` while calls are in flight.
 */
import type { TransferListItem } from 'node:worker_threads';
import { createCancelled, TriodeInternalError } from '../../shared/errors.js';
import { errorFromWire } from '../../shared/error-wire.js';
import { decodeOutcome, encodeJob, encodeSideJob, type ExportRef, type JobOutcome } from '../../shared/job-codec.js';
import { H_DATA, maxPayload, readFrames, soleReaderAwake, soleReaderWait, tryWrite, WriteResult, type RingView } from '../../shared/ring.js';
import { CANCEL, cancelJob, generationOfTicket, OWNER_MASK, queueJob, releaseJob, slotOfTicket, ticketOf, wakeIdleThread } from '../../shared/scheduler.js';
import { CapacityLimiter } from '../sync/capacity-limiter.js';

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

/** @internal one job to submit. */
export interface JobRequest {
  readonly url: string;
  readonly exportName: string;
  readonly args: unknown[];
  /** Present (even empty: the arguments hold shared memory) when the arguments must go by message. */
  readonly transfer?: TransferListItem[] | undefined;
  /** Runs (once) when the job settles, and at once when it is cancelled before it starts. */
  readonly onSettled?: (() => void) | undefined;
  /** Told (once) the job's result when it settles, after onSettled: `settled` without a promise. */
  readonly listener?: JobListener | undefined;
  /** The caller's cross-thread TaskLocal values. */
  readonly locals?: Array<[string, unknown]> | undefined;
  /** Whether the caller may terminate the thread when it cancels the call ('kill' mode). */
  readonly killable?: boolean;
}

/** Who is told a job's result (an object, not a closure: one allocation fewer per call). */
export interface JobListener {
  jobSettled(result: JobResult): void;
}

/** Marks what `runInWorker` / `workerModule` / `mapInWorkers` accept as `pool` (across builds). */
export const POOL_BRAND: unique symbol = Symbol.for('triode.pool') as never;

/** Whether `value` is a pool: a WorkerPool, or a RemotePool from `triode/remote`. */
export function isPool(value: unknown): value is JobSubmitter {
  return typeof value === 'object' && value !== null && (value as { [POOL_BRAND]?: unknown })[POOL_BRAND] === true;
}

/**
 * What runInWorker and mapInWorkers need of a pool, on any thread: a `WorkerPool`, the pool a
 * worker thread's nested calls use, or a `RemotePool` (`triode/remote`).
 */
export interface JobSubmitter {
  readonly [POOL_BRAND]: true;
  /** Calls wait here for one of the pool's job slots. */
  readonly limiter: CapacityLimiter;
  /** Threads (a RemotePool: jobs in flight) the pool runs at once; mapInWorkers runs at most this many loops. */
  readonly maxThreads: number;
  /**
   * Whether jobs run in this process's memory (worker threads): shared channels, callbacks and
   * SharedArrayBuffers can reach them. False for a RemotePool.
   */
  readonly sharesMemory: boolean;
  /** @internal throws ClosedResourceError once the pool is closed. */
  checkOpen(): void;
  /** @internal publishes one job; the caller holds a limiter token. */
  submit(request: JobRequest): WorkerJobHandle;
}

/** One job in flight: the caller's handle and the client's record of it. */
export class JobRecord implements WorkerJobHandle {
  killed = false;
  private outcome: JobResult | undefined = undefined;
  private resolveSettled: ((result: JobResult) => void) | undefined = undefined;
  private settledPromise: Promise<JobResult> | undefined = undefined;

  constructor(
    private readonly client: JobClient,
    readonly slot: number,
    readonly generation: number,
    readonly url: string,
    readonly exportName: string,
    /** Arguments for the side path (transfer lists, shared buffers, values too large for the ring). */
    readonly side: { args: unknown[]; transfer: TransferListItem[]; locals: Array<[string, unknown]> | undefined } | undefined,
    private readonly onSettled: (() => void) | undefined,
    private readonly listener: JobListener | undefined,
  ) {}

  /** Made on first use: a caller that passed a listener never pays for it. */
  get settled(): Promise<JobResult> {
    if (this.settledPromise === undefined) {
      this.settledPromise =
        this.outcome !== undefined ? Promise.resolve(this.outcome) : new Promise<JobResult>((resolve) => (this.resolveSettled = resolve));
    }
    return this.settledPromise;
  }

  cancel(): boolean {
    return this.client.cancelRecord(this);
  }

  kill(): void {
    this.client.killRecord(this);
  }

  describe(): string {
    return this.client.describeRecord(this);
  }

  /** @internal called once, by the client, when the job is over. */
  settle(result: JobResult): void {
    this.outcome = result;
    try {
      this.onSettled?.();
    } finally {
      this.resolveSettled?.(result);
      this.listener?.jobSettled(result);
    }
  }
}

/**
 * How long a caller waiting for outcomes sleeps before it reads its reply ring again anyway: a
 * safety net (a wake-up is lost only if some thread wrote garbage over the ring's header).
 */
const REPLY_LOOK_AGAIN_MS = 100;

export abstract class JobClient implements JobSubmitter {
  readonly [POOL_BRAND] = true as const;
  readonly sharesMemory = true;
  /** Calls wait here for one of this caller's job slots. */
  readonly limiter: CapacityLimiter;
  protected readonly jobs = new Map<number, JobRecord>();
  private readonly freeSlots: number[] = [];
  /** Job frames that did not fit the submission ring yet, in order. */
  private readonly backlog: Array<[ticket: number, payload: Uint8Array]> = [];
  private unannounced = 0;
  private armed = false;
  private retrying = false;
  /** Calls published and not settled yet. */
  protected get inFlight(): number {
    return this.jobs.size;
  }
  protected completed = 0;
  abstract readonly maxThreads: number;

  constructor(
    protected readonly states: Int32Array,
    protected readonly submissions: RingView,
    protected readonly replies: RingView,
    /** Which reply ring a job's outcome goes to (0: the main thread's; i + 1: pool thread i's). */
    private readonly replyTo: number,
    slots: readonly number[],
  ) {
    this.limiter = new CapacityLimiter(slots.length);
    for (let i = slots.length - 1; i >= 0; i--) this.freeSlots.push(slots[i]!);
  }

  abstract checkOpen(): void;
  /** How the job names its export (an id of the pool's export table on the main thread). */
  protected abstract exportRef(url: string, exportName: string): ExportRef;
  /** Called when calls start being in flight (true) and when none is left (false). */
  protected abstract inFlightChanged(busy: boolean): void;
  /** Called after a job is published: the pool starts threads if it needs more. */
  protected abstract published(): void;
  /** Terminates the thread running `record`'s job (kill mode). */
  protected abstract killJob(record: JobRecord): void;
  /** Readies the side path for `record` (its arguments by message); false when they cannot go. */
  protected abstract canSend(record: JobRecord, ticket: number): boolean;
  /** `record`'s job, which took the side path, was cancelled before any thread claimed it. */
  protected sideDropped(_ticket: number): void {
    // the main thread keeps side-path arguments in its own records
  }

  /** @internal publishes one job (see JobRequest); the caller holds a limiter token. */
  submit({ url, exportName, args, transfer, onSettled, listener, locals, killable = false }: JobRequest): WorkerJobHandle {
    this.checkOpen();
    const slot = this.freeSlots.pop();
    if (slot === undefined) throw new TriodeInternalError('worker pool: no free job slot although a token was held');
    const generation = queueJob(this.states, slot);
    // A transfer list (even empty: the caller found shared memory in the arguments) takes the
    // message path; so do arguments that do not serialize (endpoints) or are large.
    const inline =
      transfer === undefined
        ? encodeJob(this.exportRef(url, exportName), args, maxPayload(this.submissions) >> 2, locals, killable, this.replyTo)
        : undefined;
    const side = inline === undefined ? { args, transfer: transfer ?? [], locals } : undefined;
    const record = new JobRecord(this, slot, generation, url, exportName, side, onSettled, listener);
    if (side !== undefined && !this.canSend(record, ticketOf(slot, generation))) {
      this.freeSlots.push(slot);
      releaseJob(this.states, slot);
      throw new TypeError(`runInWorker: the arguments of ${exportName} cannot be sent to a worker thread (they are not structured-cloneable)`);
    }
    this.jobs.set(slot, record);
    if (this.inFlight === 1) this.inFlightChanged(true);
    this.publish(ticketOf(slot, generation), inline ?? encodeSideJob(killable, this.replyTo));
    this.published();
    this.armReplies();
    return record;
  }

  /** @internal the handle's cancel(): see WorkerJobHandle. */
  cancelRecord(record: JobRecord): boolean {
    const slot = record.slot;
    if (this.jobs.get(slot) !== record) return false;
    if (!cancelJob(this.states, slot)) return false;
    // Never claimed: no thread will start it (its frame is dropped by whoever takes it).
    this.finish(record, { error: createCancelled('cancelled before it started') });
    if (record.side !== undefined) this.sideDropped(ticketOf(slot, record.generation));
    return true;
  }

  /** @internal the handle's kill(): see WorkerJobHandle. */
  killRecord(record: JobRecord): void {
    // An outcome already published means the thread is done with the job: nothing to kill
    // (and it may be running another job by now). A thread that publishes one after this
    // point waits for its release before it takes another job (see releaseJob).
    this.drainReplies();
    if (this.jobs.get(record.slot) !== record) return;
    record.killed = true;
    this.killJob(record);
  }

  /** @internal the handle's describe(): see WorkerJobHandle. */
  describeRecord(record: JobRecord): string {
    if (this.jobs.get(record.slot) !== record) return 'done';
    const word = Atomics.load(this.states, record.slot);
    const owner = word & OWNER_MASK;
    const cancelled = (word & CANCEL) !== 0 ? ', cancel requested' : '';
    // A thread's identity is its threadId + 1 (thread-registry.ts).
    return owner === 0 ? `queued${cancelled}` : `running on worker thread ${owner - 1}${cancelled}${this.nestedDetail(owner)}`;
  }

  /**
   * Writes a job frame (or keeps a copy, in order, behind those that did not fit yet), and
   * schedules one wake-up of sleeping threads for all the jobs published in this turn.
   */
  private publish(ticket: number, payload: Uint8Array): void {
    if (this.backlog.length === 0 && tryWrite(this.submissions, ticket, payload, 0) === WriteResult.Written) {
      if (this.unannounced++ === 0) queueMicrotask(this.announce);
      return;
    }
    this.backlog.push([ticket, payload.slice()]);
    this.retryBacklog();
  }

  /**
   * Wakes one sleeping thread for the jobs published this turn, unless a thread spins for jobs
   * (it takes them without a wake-up). A woken thread that sees more jobs wakes the next one, so
   * the caller pays at most one futex wake per turn (see SPINNING in shared/scheduler.ts).
   */
  private readonly announce = (): void => {
    this.unannounced = 0;
    wakeIdleThread(this.submissions, this.states, this.liveSpinning, false);
  };

  /**
   * Which SPINNING bits belong to threads that exist, when this caller knows (the main thread
   * does: see WorkerPool); undefined counts every bit.
   */
  protected get liveSpinning(): Int32Array | undefined {
    return undefined;
  }

  /** Moves backlogged job frames into the ring as space frees up (after each batch of outcomes). */
  private flushBacklog(): void {
    while (this.backlog.length > 0) {
      const [ticket, payload] = this.backlog[0]!;
      if (tryWrite(this.submissions, ticket, payload, 0) !== WriteResult.Written) return;
      this.backlog.shift();
      if (this.unannounced++ === 0) queueMicrotask(this.announce);
    }
  }

  /**
   * The ring may refuse a frame for a moment (another thread holds its write lock: the main
   * thread never waits for one) as well as when it is full: look again soon, not only when
   * outcomes come back.
   */
  private retryBacklog(): void {
    if (this.retrying) return;
    this.retrying = true;
    const retry = () => {
      this.flushBacklog();
      if (this.backlog.length > 0) setTimeout(retry, 1).unref();
      else this.retrying = false;
    };
    setImmediate(retry).unref();
  }

  /**
   * Keeps one Atomics.waitAsync on the reply ring while calls are in flight. This thread is the
   * ring's only reader, so it waits as one (ring.ts, WAKE_SOLE_READER): the threads publishing
   * outcomes meanwhile wake it once, not once each.
   */
  protected armReplies(): void {
    while (!this.armed && this.inFlight > 0) {
      const seen = Atomics.load(this.replies.header, H_DATA);
      this.drainReplies();
      if (this.inFlight === 0) return;
      const waiting = soleReaderWait(this.replies, seen, REPLY_LOOK_AGAIN_MS);
      if (!waiting.async) continue;
      this.armed = true;
      void waiting.value.then(() => {
        soleReaderAwake(this.replies);
        this.armed = false;
        this.armReplies();
      });
    }
  }

  /** Settles every call whose outcome is in the reply ring. */
  protected drainReplies(): void {
    // Borrowed payloads: each is decoded at once, in complete().
    while (readFrames(this.replies, 1024, this.completeFrame, undefined, true) > 0) {
      // keep reading: a batch is at most what the scratch holds
    }
    this.flushBacklog();
  }

  private readonly completeFrame = (ticket: number, payload: Uint8Array): void => this.complete(ticket, payload);

  /** For describe(): the nested calls the thread `owner` has made and not settled yet ('' for none). */
  protected nestedDetail(_owner: number): string {
    return '';
  }

  /** An outcome for a ticket this caller has no call for (a predecessor's orphan: see ThreadClient). */
  protected unknownTicket(_ticket: number): void {
    // stale or forged: nothing to do
  }

  /** @internal an outcome that came by message (too large for the reply ring). */
  deliver(ticket: number, payload: Uint8Array): void {
    this.complete(ticket, payload);
  }

  /** One outcome, from the ring or the side path: decoded defensively, for its own call only. */
  protected complete(ticket: number, payload: Uint8Array): void {
    const record = this.jobs.get(slotOfTicket(ticket));
    if (record === undefined || record.generation !== generationOfTicket(ticket)) {
      this.unknownTicket(ticket);
      return;
    }
    let outcome: JobOutcome;
    try {
      outcome = decodeOutcome(payload);
    } catch (error) {
      const reason = (error as Error).message;
      this.finish(record, { error: new TypeError(`runInWorker: ${record.exportName}'s ${reason}`, { cause: error }) });
      return;
    }
    if (outcome.ok) {
      this.finish(record, outcome); // `{ ok, value }` is a JobResult's `{ value }` already
    } else {
      this.finish(record, { error: errorFromWire(outcome.error, `at ${record.exportName} (in a worker thread, ${record.url})`) });
    }
  }

  protected finish(record: JobRecord, result: JobResult): void {
    if (this.jobs.get(record.slot) !== record) return;
    this.jobs.delete(record.slot);
    releaseJob(this.states, record.slot);
    this.freeSlots.push(record.slot);
    this.completed++;
    if (this.inFlight === 0) this.inFlightChanged(false);
    record.settle(result);
  }

  /** Gives back a slot this caller found held by an orphan of its predecessor, once that is over. */
  protected reclaim(slot: number): void {
    releaseJob(this.states, slot);
    this.freeSlots.push(slot);
    this.limiter.totalTokens += 1;
  }
}
