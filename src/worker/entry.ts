/**
 * The script every pool thread runs: the worker side of the scheduler (shared/scheduler.ts).
 *
 * The thread takes jobs from the submission ring itself, one at a time, claiming each under the
 * ring's read lock; runs it; writes the result into the completion ring. With nothing to take it
 * spins briefly, then sleeps on the ring's DATA word with `Atomics.wait` (counted, so the main
 * thread wakes it only then), in slices, running its event loop between slices and between
 * jobs. After `idleTimeoutMs` with nothing to do it leaves, if the pool keeps more than
 * `minThreads`.
 *
 * An async export (or one that returned a thenable the first time it ran) runs inside its own
 * triode `run()`, in a cancel scope cancelled when the caller is; a sync export runs bare and
 * notices cancellation through `checkpoint()` / `sleepSync()` from `triode/worker`.
 *
 * Attribution. An error no call owns — a timer that throws after its call returned, a rejection
 * nobody handled — is reported to the pool (a process warning naming the module), never as
 * another call's error; the thread then finishes the job it is running and leaves, and the pool
 * starts a fresh one.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { isCallbackWire } from '../shared/callback-wire.js';
import { whyUncloneable } from '../shared/cloneable.js';
import { describedErrorWire, errorFromWire, errorToWire } from '../shared/error-wire.js';
import { H_DATA, H_SPACE, H_WAIT_RECV, H_WAIT_SEND, maxPayload, readFrames, tryWrite, usedBytes, viewRing, WAKE_SOLE_READER, WriteResult, type RingView } from '../shared/ring.js';
import { awaitRelease, C_MIN_THREADS, C_THREADS, claimJob, JOB_SLOTS, setSpinning, MAX_CALLING_THREADS, slotOfTicket, slotsOf, wakeIdleThread, type Job } from '../shared/scheduler.js';
import { setThreadPool, ThreadClient, threadPool } from '../main/workers/thread-client.js';
import { checkSideJob, decodeJob, encodeOutcome, ExportTableReader, type JobOutcome } from '../shared/job-codec.js';
import { crossThreadLocal, type TaskLocal } from '../main/core/task-local.js';
import { selfIdentity } from '../shared/thread-registry.js';
import { IDLE_EXIT_CODE, type ThreadSetup } from '../shared/thread-protocol.js';
import { callCancelled, currentCall, isCancelledWord, runAsCall, type CancelWord, type CurrentCall } from '../shared/worker-call.js';
import { CancelScope } from '../main/core/cancel-scope.js';
import { run } from '../main/core/runner.js';
import { endpointFromWire, isSharedChannelWire } from '../main/channels/shared-channel.js';
import { isThenable, loadExport } from './load-export.js';

type AnyFunction = (...args: unknown[]) => unknown;

const setup = workerData as ThreadSetup;
const port = parentPort!;
const submissions = viewRing(setup.submissions);
/** The reply rings (viewed on first use): [0] the main thread's, [i + 1] pool thread i's. */
const replyRings: Array<RingView | undefined> = [];
function replyRing(replyTo: number): RingView | undefined {
  const sab = setup.replies[replyTo];
  if (sab === undefined) return undefined;
  return (replyRings[replyTo] ??= viewRing(sab));
}
const states = new Int32Array(setup.states);
const exportTable = new ExportTableReader(setup.exports);
const me = selfIdentity();
const claim = (ticket: number) => claimJob(states, ticket, me);

let retiring = false;
let lastModule = '(none yet)';

function describeThrown(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return String(value);
  } catch {
    return 'a value that cannot be printed';
  }
}

function stray(value: unknown): void {
  // Code of the job still running failed outside the job's own promise (a timer it set, a
  // rejection it dropped): the thread dies with the error, and that call (only) fails with
  // BrokenWorkerError saying what happened.
  // (Each job's code, and the timers and promises it makes, carry its call: see worker-call.ts.)
  const job = currentCall();
  if (job !== undefined && !job.finished) throw value;
  // Left behind by a call that has returned: nobody's error. Reported; the thread retires.
  if (retiring) return;
  retiring = true;
  port.postMessage({ type: 'stray', module: job?.module ?? lastModule, text: describeThrown(value) });
}
process.on('uncaughtException', stray);
process.on('unhandledRejection', stray);

// ---- the side path ------------------------------------------------------------------------------

const sideJobs = new Map<number, (job: Job | undefined) => void>();
port.on('message', (message: unknown) => {
  if (message === null || typeof message !== 'object') return;
  const { type, ticket } = message as { type?: unknown; ticket?: unknown };
  if (type === 'result' && typeof ticket === 'number') {
    // An outcome of one of this thread's nested calls, too large for its reply ring.
    const { bytes } = message as { bytes?: unknown };
    if (bytes instanceof Uint8Array) threadPool()?.deliver(ticket, bytes);
    return;
  }
  if (type !== 'job' || typeof ticket !== 'number') return;
  const resolve = sideJobs.get(ticket);
  if (resolve === undefined) return;
  sideJobs.delete(ticket);
  const m = message as { missing?: unknown; url?: unknown; exportName?: unknown; args?: unknown; locals?: unknown };
  try {
    resolve(m.missing === true ? undefined : checkSideJob(m));
  } catch {
    resolve(undefined);
  }
});

function fetchSideJob(ticket: number): Promise<Job | undefined> {
  return new Promise((resolve) => {
    sideJobs.set(ticket, resolve);
    port.postMessage({ type: 'fetch', ticket });
  });
}

// ---- results ------------------------------------------------------------------------------------

/**
 * What a running job's frame said about its answer, by job slot (a slot holds one job at a time,
 * claimed by one thread): 0 for none, else 1 + (replyTo << 1 | killable).
 */
const answers = new Int32Array(JOB_SLOTS);

/** Publishes a job's outcome (see publish); a killable, cancelled job is then waited out (see awaitRelease). */
function complete(ticket: number, outcome: JobOutcome): void {
  const slot = slotOfTicket(ticket);
  const answer = Math.max(0, answers[slot]! - 1);
  answers[slot] = 0;
  publish(ticket, outcome, answer >> 1);
  if ((answer & 1) !== 0) awaitRelease(states, slot, me);
}

/**
 * Publishes a job's outcome in its caller's reply ring, or, too large for it, as a message to the
 * main thread (for the main thread's own calls; a nested call's caller is refused such a result).
 */
function publish(ticket: number, outcome: JobOutcome, replyTo: number): void {
  const ring = replyRing(replyTo);
  if (ring === undefined) return; // a forged reply ring: nobody to answer
  let bytes: Uint8Array;
  try {
    bytes = encodeOutcome(outcome);
  } catch (error) {
    const what = outcome.ok ? 'its result cannot be sent back to the calling thread' : 'the value it threw cannot be sent to the calling thread';
    bytes = encodeOutcome({ ok: false, error: describedErrorWire(`${what}: ${describeThrown(error)}`) });
  }
  if (bytes.byteLength > maxPayload(ring) >> 2) {
    // By message, through the main thread for a nested call's caller.
    port.postMessage({ type: 'result', ticket, bytes: bytes.slice() }); // (bytes is a view of a scratch buffer)
    return;
  }
  const header = ring.header;
  for (;;) {
    const seen = Atomics.load(header, H_SPACE);
    if (tryWrite(ring, ticket, bytes, WAKE_SOLE_READER) === WriteResult.Written) return;
    // Full: the main thread drains it in batches; sleep until it frees space.
    Atomics.add(header, H_WAIT_SEND, 1);
    Atomics.wait(header, H_SPACE, seen, 5);
    Atomics.sub(header, H_WAIT_SEND, 1);
  }
}

// ---- running one job ----------------------------------------------------------------------------

/** A job about to run: with the pool's id of its export when its frame named it by id. */
type RunnableJob = Job & { readonly exportId?: number | undefined };

interface ExportEntry {
  readonly fn: AnyFunction;
  /** Whether it runs in its own run(): known for `async function`s, learned from the first call otherwise. */
  async: boolean | undefined;
}

/** Loaded exports by url, then export name; and by the pool's export id (no string work per job). */
const exports = new Map<string, Map<string, ExportEntry>>();
const exportsById: Array<ExportEntry | undefined> = [];

function knownEntry(job: RunnableJob): ExportEntry | undefined {
  if (job.exportId !== undefined) {
    const byId = exportsById[job.exportId];
    if (byId !== undefined) return byId;
  }
  const entry = exports.get(job.url)?.get(job.exportName);
  if (entry !== undefined && job.exportId !== undefined) exportsById[job.exportId] = entry;
  return entry;
}

async function exportEntry(url: string, exportName: string): Promise<ExportEntry> {
  let byName = exports.get(url);
  if (byName === undefined) exports.set(url, (byName = new Map()));
  let entry = byName.get(exportName);
  if (entry === undefined) {
    const fn = await loadExport(url, exportName);
    entry = { fn, async: fn.constructor?.name === 'AsyncFunction' ? true : undefined };
    byName.set(exportName, entry);
  }
  return entry;
}

/** Runs `entry` inside its own run(), its root scope cancelled with the call. */
async function runInOwnRun(entry: ExportEntry, args: unknown[], word: CancelWord, locals: Map<object, unknown> | undefined): Promise<unknown> {
  return run(async () => {
    // The caller's cross-thread TaskLocal values, in the root task: its tasks inherit them.
    if (locals !== undefined) for (const [local, value] of locals) (local as TaskLocal<unknown>).set(value);
    const scope = new CancelScope();
    scope.label = 'worker call';
    const running = Atomics.load(word.words, word.index);
    const waiting = Atomics.waitAsync(word.words, word.index, running);
    if (!waiting.async || isCancelledWord(word)) {
      scope.cancel('the calling task was cancelled');
    } else {
      void waiting.value.then(() => {
        if (isCancelledWord(word)) scope.cancel('the calling task was cancelled');
      });
    }
    try {
      const value = await scope.run(async () => {
        let result: unknown;
        try {
          result = entry.fn(...args);
        } catch (error) {
          entry.async ??= false; // it threw before returning: synchronous (an async function never does)
          throw error;
        }
        entry.async ??= isThenable(result);
        return await result;
      });
      if (scope.cancelledCaught) throw callCancelled();
      return value;
    } finally {
      // Release our own Atomics.waitAsync so no waiter outlives the call.
      Atomics.notify(word.words, word.index);
    }
  });
}

/** Whether any argument may have crossed specially (only objects do). */
function needsRevival(args: unknown[]): boolean {
  for (let i = 0; i < args.length; i++) if (typeof args[i] === 'object' && args[i] !== null) return true;
  return false;
}

/** Turns the arguments that crossed specially back into live things: channel endpoints, callbacks. */
function reviveArgs(args: unknown[], cleanups: Array<() => void>): unknown[] {
  return args.map((arg) => {
    if (isSharedChannelWire(arg)) {
      // A live endpoint of the caller's channel; closed for the worker when the call ends.
      const endpoint = endpointFromWire(arg);
      cleanups.push(() => endpoint.close());
      return endpoint;
    }
    if (!isCallbackWire(arg)) return arg;
    const remote = Comlink.wrap<(...a: unknown[]) => unknown>(arg.port as unknown as Comlink.Endpoint);
    cleanups.push(() => {
      remote[Comlink.releaseProxy]();
      arg.port.close();
    });
    return async (...callArgs: unknown[]) => {
      try {
        return await remote(...callArgs);
      } catch (error) {
        throw errorFromWire(error, 'at a main-thread callback');
      }
    };
  });
}

function resultOutcome(value: unknown, exportName: string): JobOutcome {
  if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') return { ok: true, value };
  let why: string | undefined;
  try {
    why = whyUncloneable(value, 'its result');
  } catch (error) {
    why = `checking it failed (${describeThrown(error)})`; // e.g. nested too deep to walk
  }
  if (why === undefined) return { ok: true, value };
  return { ok: false, error: errorToWire(new TypeError(`${exportName} returned a value that cannot be sent back to the calling thread: ${why}`)) };
}

/**
 * Publishes the outcome `produce()` gives (without `produce`: `value`, the result of export
 * `exportName`), or the error that throws: a job always gets an answer.
 */
function settle(ticket: number, produce: (() => JobOutcome) | undefined, value?: unknown, exportName = ''): void {
  let outcome: JobOutcome;
  try {
    outcome = produce === undefined ? resultOutcome(value, exportName) : produce();
  } catch (error) {
    outcome = { ok: false, error: describedErrorWire(`triode: the call's outcome could not be prepared: ${describeThrown(error)}`) };
  }
  complete(ticket, outcome);
}

/** Runs one claimed job to its outcome; a promise only when it has to wait (loading, async exports). */
function runJob(ticket: number, payload: Uint8Array): Promise<void> | void {
  const word: CancelWord = { words: states, index: slotOfTicket(ticket) };
  let job: RunnableJob;
  try {
    const decoded = decodeJob(payload);
    answers[slotOfTicket(ticket)] = 1 + ((decoded.replyTo << 1) | (decoded.killable ? 1 : 0));
    if (decoded.side) {
      return fetchSideJob(ticket).then((sideJob) =>
        sideJob === undefined
          ? settle(ticket, () => ({ ok: false, error: describedErrorWire('triode: the arguments of this call were no longer available') }))
          : execute(ticket, word, sideJob),
      );
    }
    const { ref, args, locals } = decoded;
    const names = typeof ref === 'number' ? exportTable.lookup(ref) : ref;
    job = { url: names.url, exportName: names.exportName, args, locals, exportId: typeof ref === 'number' ? ref : undefined };
  } catch (error) {
    settle(ticket, () => ({ ok: false, error: errorToWire(error) }));
    return;
  }
  return execute(ticket, word, job);
}

function execute(ticket: number, word: CancelWord, job: RunnableJob): Promise<void> | void {
  const call: CurrentCall = { cancelWord: word, module: job.url, finished: false };
  const running = runAsCall(call, () => executeAsCall(ticket, call, job));
  if (running === undefined) {
    call.finished = true;
    return;
  }
  return running.finally(() => (call.finished = true));
}

/** The job's TaskLocal values, keyed by this thread's locals of the same names (others are dropped). */
function localsOf(job: Job): Map<object, unknown> | undefined {
  if (job.locals === undefined) return undefined;
  const map = new Map<object, unknown>();
  for (const [name, value] of job.locals) {
    const local = crossThreadLocal(name);
    if (local !== undefined) map.set(local, value);
  }
  return map;
}

function executeAsCall(ticket: number, call: CurrentCall, job: RunnableJob): Promise<void> | void {
  const word = call.cancelWord;
  lastModule = job.url;
  const entry = knownEntry(job);
  if (entry === undefined) {
    return exportEntry(job.url, job.exportName).then(
      () => executeAsCall(ticket, call, job),
      (error: unknown) => settle(ticket, () => ({ ok: false, error: errorToWire(error) })),
    );
  }
  // Resolved once the module is loaded: its TaskLocals exist only from then on.
  const locals = (call.locals = localsOf(job));
  // Channel endpoints and callbacks among the arguments, revived, are closed when the call ends.
  const cleanups: Array<() => void> = [];
  const finishWith = (produce: () => JobOutcome) => {
    for (const cleanup of cleanups) cleanup();
    settle(ticket, produce);
  };
  let value: unknown;
  try {
    const args = needsRevival(job.args) ? reviveArgs(job.args, cleanups) : job.args;
    // Only a job known to be async lets the thread take others meanwhile: the first call of an
    // export not declared async runs in a run() only to learn what it returns, and is waited for.
    if (entry.async !== false) {
      concurrent = entry.async === true;
      // Known async only now (its module just loaded): the loop may stop waiting for it.
      if (concurrent) becameConcurrent?.();
      return runInOwnRun(entry, args, word, locals).then(
        (result) => finishWith(() => resultOutcome(result, job.exportName)),
        (error: unknown) => finishWith(() => ({ ok: false, error: errorToWire(error) })),
      );
    }
    value = entry.fn(...args);
  } catch (error) {
    finishWith(() => ({ ok: false, error: errorToWire(error) }));
    return;
  }
  if (isThenable(value)) {
    // Learned late: its next calls run in their own run().
    entry.async = true;
    return Promise.resolve(value).then(
      (result) => finishWith(() => resultOutcome(result, job.exportName)),
      (error: unknown) => finishWith(() => ({ ok: false, error: errorToWire(error) })),
    );
  }
  // The common case, a synchronous export: no closure per outcome.
  for (const cleanup of cleanups) cleanup();
  settle(ticket, undefined, value, job.exportName);
}

// ---- the loop -----------------------------------------------------------------------------------

let taken: [number, Uint8Array] | undefined;
const sink = (ticket: number, payload: Uint8Array) => (taken = [ticket, payload]);

function take(): [number, Uint8Array] | undefined {
  taken = undefined;
  // Borrowed: runJob decodes the payload before this thread reads any ring again.
  readFrames(submissions, 1, sink, claim, true);
  // Took a job: if more wait and nobody spins for them, wake one sleeping thread.
  if (taken !== undefined) wakeIdleThread(submissions, states, undefined, true);
  return taken;
}



const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
const SPIN_NS = 50_000n;
/** How long an idle thread sleeps at a time before running its event loop. */
const IDLE_SLICE_MS = 50;

/** Waits for a job to take; false when the thread should leave (idle too long, pool above minThreads). */
async function idle(): Promise<boolean> {
  const header = submissions.header;
  const since = performance.now();
  const until = process.hrtime.bigint() + SPIN_NS;
  // Counted as spinning: a caller publishing now need not wake anyone (see SPINNING).
  setSpinning(states, setup.index, true);
  try {
    while (process.hrtime.bigint() < until) {
      for (let i = 0; i < 64; i++) if (usedBytes(submissions) > 0) return true;
    }
  } finally {
    setSpinning(states, setup.index, false);
  }
  for (;;) {
    const seen = Atomics.load(header, H_DATA);
    if (usedBytes(submissions) > 0 || retiring) return true;
    Atomics.add(header, H_WAIT_RECV, 1);
    const result = Atomics.wait(header, H_DATA, seen, IDLE_SLICE_MS);
    Atomics.sub(header, H_WAIT_RECV, 1);
    if (result !== 'timed-out') return true;
    await yieldToEventLoop();
    if (performance.now() - since >= setup.idleTimeoutMs && leave()) return false;
  }
}

/** Counts this thread out if the pool keeps more than minThreads; true when it may leave. */
function leave(): boolean {
  for (;;) {
    const threads = Atomics.load(states, C_THREADS);
    if (threads <= Atomics.load(states, C_MIN_THREADS)) return false;
    if (Atomics.compareExchange(states, C_THREADS, threads, threads - 1) === threads) return true;
  }
}

/** Async jobs in progress on this thread (waiting on timers, I/O or nested calls). */
let asyncJobs = 0;
/** Set by the job just started: whether the thread may take other jobs while it waits. */
let concurrent = false;
/** Called when the job the loop waits for turns out to be async (after its module loaded). */
let becameConcurrent: (() => void) | undefined;
/** How long a thread with async jobs in progress waits for new jobs before looking at them again. */
const BUSY_SLICE_MS = 2;

/**
 * With async jobs in progress the thread must keep its event loop running (their promises, and
 * the outcomes of their nested calls, arrive through it), so it waits for new jobs with
 * `Atomics.waitAsync`, in short slices (to notice its async jobs ending). Each wait is over
 * before the next begins: a waiter left pending on the word would take a wake-up meant for this
 * thread's next wait (notify wakes waiters in order).
 */
async function waitWhileBusy(): Promise<void> {
  const header = submissions.header;
  const seen = Atomics.load(header, H_DATA);
  if (usedBytes(submissions) > 0) return;
  Atomics.add(header, H_WAIT_RECV, 1);
  try {
    const waiting = Atomics.waitAsync(header, H_DATA, seen, BUSY_SLICE_MS);
    if (waiting.async) await waiting.value;
  } finally {
    Atomics.sub(header, H_WAIT_RECV, 1);
  }
}

async function loop(): Promise<void> {
  let sinceYield = 0;
  for (;;) {
    if (retiring && asyncJobs === 0) process.exit(0);
    const job = retiring ? undefined : take();
    if (job === undefined) {
      if (asyncJobs > 0) await waitWhileBusy();
      else if (!(await idle())) process.exit(IDLE_EXIT_CODE);
      continue;
    }
    concurrent = false;
    const pending = runJob(job[0], job[1]);
    let waitedOut = pending === undefined;
    if (pending !== undefined && !concurrent) {
      // Not known to be async (yet): wait for it, unless it turns out async on the way.
      waitedOut = await Promise.race([pending.then(() => true), new Promise<boolean>((resolve) => (becameConcurrent = () => resolve(false)))]);
      becameConcurrent = undefined;
    }
    if (pending !== undefined && !waitedOut) {
      // It waits on something: take other jobs meanwhile (a job waiting on nested calls must not
      // keep its thread from running them). Its outcome is published when it ends.
      asyncJobs++;
      void pending.finally(() => asyncJobs--);
    }
    // Let the event loop run now and then (timers, messages), and after every async job starts.
    if (pending !== undefined || ++sinceYield >= 64) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
}

setThreadPool(
  new ThreadClient(
    states,
    submissions,
    replyRing(setup.index + 1) ?? replyRing(0)!,
    setup.index + 1,
    setup.index < MAX_CALLING_THREADS ? slotsOf(setup.index + 1, setup.maxThreads) : [],
    setup.maxThreads,
    (message, transfer) => port.postMessage(message, transfer),
  ),
);
port.postMessage({ type: 'ready' });
void loop();
