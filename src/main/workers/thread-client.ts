/**
 * The pool as seen from one of its threads: what `runInWorker`, `workerModule` and
 * `mapInWorkers` use inside a worker call that names no pool (nested calls, parallel compute
 * nurseries). Jobs go into the same submission ring as the main thread's, with this thread's own
 * job slots and reply ring (job-client.ts), so a nested call is taken by whichever thread is free
 * — this one included: while its calls wait on nested ones, the thread takes other jobs
 * (src/worker/entry.ts), so no nesting depth and no thread count deadlocks.
 *
 * Arguments that must go by message (transfer lists, shared memory, channel endpoints, values
 * larger than a quarter of the ring) are posted to the main thread, which hands them to whichever
 * thread claims the job; outcomes too large for this thread's reply ring come back the same way.
 */
import type { TransferListItem } from 'node:worker_threads';
import type { ExportRef } from '../../shared/job-codec.js';
import type { RingView } from '../../shared/ring.js';
import { C_THREADS, CANCEL, OWNER_MASK, slotOfTicket } from '../../shared/scheduler.js';
import { ClosedResourceError } from '../../shared/errors.js';
import { JobClient, type JobRecord } from './job-client.js';

export class ThreadClient extends JobClient {
  private readonly ownSlots: Set<number>;
  private spawnAsked = false;

  constructor(
    states: Int32Array,
    submissions: RingView,
    replies: RingView,
    replyTo: number,
    slots: readonly number[],
    readonly maxThreads: number,
    private readonly post: (message: unknown, transfer?: readonly TransferListItem[]) => void,
  ) {
    // Slots still held by a predecessor's calls (it died with calls in flight) are left out
    // until their outcomes come back (see unknownTicket).
    super(states, submissions, replies, replyTo, slots.filter((slot) => isReusable(states, slot)));
    this.ownSlots = new Set(slots);
  }

  checkOpen(): void {
    if (this.limiter.totalTokens === 0 && this.ownSlots.size === 0) {
      throw new ClosedResourceError('this pool thread cannot make nested calls (more threads than reply rings)');
    }
  }

  protected exportRef(url: string, exportName: string): ExportRef {
    return { url, exportName }; // the export table has one writer, the main thread
  }

  protected inFlightChanged(): void {
    // A pool thread's liveness is the pool's business.
  }

  protected published(): void {
    // The pool starts threads for queued work it knows of; tell it once per turn, and only while
    // it has fewer threads than it may (a message per turn costs fork-join code ~60 µs).
    if (this.spawnAsked || Atomics.load(this.states, C_THREADS) >= this.maxThreads) return;
    this.spawnAsked = true;
    queueMicrotask(() => {
      this.spawnAsked = false;
      this.post({ type: 'spawn' });
    });
  }

  protected canSend(record: JobRecord, ticket: number): boolean {
    const side = record.side!;
    try {
      this.post(
        { type: 'side', ticket, url: record.url, exportName: record.exportName, args: side.args, locals: side.locals, transfer: side.transfer },
        side.transfer,
      );
      return true;
    } catch {
      return false;
    }
  }

  protected override sideDropped(ticket: number): void {
    this.post({ type: 'drop', ticket });
  }

  protected killJob(record: JobRecord): void {
    this.post({ type: 'kill', ticket: (record.generation << 12) | record.slot });
  }

  /** An outcome for a predecessor's call: its slot is this thread's to reuse now. */
  protected override unknownTicket(ticket: number): void {
    const slot = slotOfTicket(ticket);
    if (this.ownSlots.has(slot) && !this.jobs.has(slot)) this.reclaim(slot);
  }
}

/** A slot no call holds: never used, released, or cancelled before any thread claimed it. */
function isReusable(states: Int32Array, slot: number): boolean {
  const word = Atomics.load(states, slot);
  const owner = word & OWNER_MASK;
  return word === 0 || owner === OWNER_MASK || (owner === 0 && (word & CANCEL) !== 0);
}

const THREAD_POOL = Symbol.for('triode.threadPool');
type GlobalWithThreadPool = typeof globalThis & { [THREAD_POOL]?: ThreadClient };

/** @internal the pool this thread belongs to, when it is a pool thread. */
export function threadPool(): ThreadClient | undefined {
  return (globalThis as GlobalWithThreadPool)[THREAD_POOL];
}

/** @internal called once by the thread entry. */
export function setThreadPool(client: ThreadClient): void {
  (globalThis as GlobalWithThreadPool)[THREAD_POOL] = client;
}
