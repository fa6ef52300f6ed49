// bench/remote: worker calls through triode/remote (RemotePool + triode-worker processes)
// against BullMQ used directly (Queue.add + QueueEvents on the client; a BullMQ Worker running
// the same export on the worker side), on one real redis-server, with 1 and then 2 worker
// processes taking 4 jobs at a time each (triode-worker: on 2 threads; BullMQ: on its main thread).
// A third peer, bullmq+thread, is BullMQ whose worker hands each job to a triode WorkerPool
// thread, as triode-worker does: the difference between it and bullmq is what running remote jobs
// on threads costs (the price of cancelling and killing them), the rest is triode's own.
//   npm run bench:remote
//
// Each measurement runs one peer alone in a fresh client process (this file with `--peer`), the
// rounds interleave the peers, and both peers' worker processes stay up for the whole run (the
// idle ones wait in a blocking Redis read). The BullMQ client never runs while triode's
// AsyncLocalStorage hook is on: it runs in a process that never loads triode.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { printTable, type Row } from './harness.js';
import { startRedis, startWorker, stopChild, type WorkerProcess } from '../test/fixtures/remote-fleet.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CALLS = 2000;
const IN_FLIGHT = 64;
const LATENCY_CALLS = 200;
/** Jobs each worker process takes from Redis at once: the same for both peers. */
const JOBS_PER_WORKER = 4;
/** triode-worker's threads (its default concurrency is twice this: JOBS_PER_WORKER). */
const THREADS = 2;
const PEERS = ['triode', 'bullmq', 'bullmq+thread'] as const;
type Peer = (typeof PEERS)[number];

const here = fileURLToPath(import.meta.url);
const fixture = new URL('../test/fixtures/remote-module.js', import.meta.url);
const bullWorkerFile = fileURLToPath(new URL('./remote/bullmq-worker.js', import.meta.url));
const threadWorkerFile = fileURLToPath(new URL('./remote/bullmq-thread-worker.js', import.meta.url));
const queueOf: Record<Peer, string> = { triode: 'bench-triode', bullmq: 'bench-bullmq', 'bullmq+thread': 'bench-bullmq-thread' };

interface Measures {
  callsPerS: number;
  latencyUs: number;
}

/**
 * Starts `IN_FLIGHT` loops sharing `CALLS` calls (the same driver for both peers) and returns
 * when they started, with the start time; the caller joins them.
 */
function drive(call: (i: number) => Promise<unknown>, start: (fn: () => Promise<void>) => void): number {
  let next = 0;
  const t0 = performance.now();
  for (let k = 0; k < IN_FLIGHT; k++) {
    start(async () => {
      while (next < CALLS) {
        const i = next++;
        const value = await call(i);
        if (value !== i + 1) throw new Error(`wrong result ${String(value)} for ${i}`);
      }
    });
  }
  return t0;
}

async function latency(call: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < LATENCY_CALLS; i++) await call(i);
  return ((performance.now() - t0) * 1000) / LATENCY_CALLS;
}

async function measureTriode(redis: string, queue: string): Promise<Measures> {
  const { run, runInWorker, openNursery } = await import('triode');
  const { openRemotePool } = await import('triode/remote');
  return run(() =>
    openRemotePool({ redis, queue }, async (pool) => {
      const call = (i: number) => runInWorker(fixture, 'add', [i, 1], { pool });
      for (let i = 0; i < 50; i++) await call(i); // warm up
      let started = 0;
      await openNursery(async (nursery) => {
        started = drive(call, (fn) => nursery.startSoon(fn));
      });
      // drive() returned once the loops were started; the nursery's exit is the join.
      const ms = performance.now() - started;
      return { callsPerS: (CALLS * 1000) / ms, latencyUs: await latency(call) };
    }),
  );
}

async function measureBullmq(redis: string, queue: string): Promise<Measures> {
  const { Queue, QueueEvents } = await import('bullmq');
  const connection = { url: redis };
  const q = new Queue(queue, { connection });
  const events = new QueueEvents(queue, { connection });
  await Promise.all([q.waitUntilReady(), events.waitUntilReady()]);
  // One listener for all jobs (job.waitUntilFinished adds two per job: slower under load).
  const waiting = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  events.on('completed', ({ jobId, returnvalue }) => waiting.get(jobId)?.resolve(returnvalue));
  events.on('failed', ({ jobId, failedReason }) => waiting.get(jobId)?.reject(new Error(failedReason)));
  let sequence = 0;
  const call = async (i: number) => {
    const id = `b-${process.pid}-${++sequence}`;
    const done = new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    await q.add('add', { exportName: 'add', args: [i, 1] }, { jobId: id, removeOnComplete: true, removeOnFail: true });
    try {
      return await done;
    } finally {
      waiting.delete(id);
    }
  };
  await new Promise((r) => setTimeout(r, 100)); // let the events reader start (it reads from '$')
  for (let i = 0; i < 50; i++) await call(i);
  const tasks: Promise<void>[] = [];
  const started = drive(call, (fn) => void tasks.push(fn()));
  await Promise.all(tasks);
  const ms = performance.now() - started;
  const result = { callsPerS: (CALLS * 1000) / ms, latencyUs: await latency(call) };
  await Promise.all([events.close(), q.close()]);
  return result;
}

async function child(peer: Peer, redis: string, queue: string): Promise<void> {
  // 'bullmq+thread' is BullMQ's client too: only its worker differs.
  const measures = peer === 'triode' ? await measureTriode(redis, queue) : await measureBullmq(redis, queue);
  process.stdout.write(`${JSON.stringify(measures)}\n`);
}

function measureInChild(peer: Peer, redis: string, queue: string): Promise<Measures> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [here, '--peer', peer, redis, queue], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Measures) : reject(new Error(`${peer} exited with ${code}`))));
  });
}

async function startBullWorker(redis: string, queue: string, threaded: boolean): Promise<WorkerProcess> {
  const args = threaded ? [threadWorkerFile, redis, queue, String(JOBS_PER_WORKER), String(THREADS)] : [bullWorkerFile, redis, queue, String(JOBS_PER_WORKER)];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  proc.stdout!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  while (!text.includes('serving')) {
    if (proc.exitCode !== null) throw new Error('the BullMQ worker did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child: proc, pid: proc.pid!, output: () => text, exited };
}

function spread(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[0]!.toFixed(0)}–${sorted[sorted.length - 1]!.toFixed(0)}`;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const fleet: WorkerProcess[] = [];
  try {
    const rows: Row[] = [];
    for (const count of [1, 2]) {
      while (fleet.length < count * 3) {
        fleet.push(await startWorker(redis.url, queueOf.triode, ['--threads', String(THREADS), '--concurrency', String(JOBS_PER_WORKER)]));
        fleet.push(await startBullWorker(redis.url, queueOf.bullmq, false));
        fleet.push(await startBullWorker(redis.url, queueOf['bullmq+thread'], true));
      }
      const got: Record<Peer, Measures[]> = { triode: [], bullmq: [], 'bullmq+thread': [] };
      for (let round = 0; round < RUNS; round++) {
        const order = round % 2 === 0 ? PEERS : [...PEERS].reverse();
        for (const peer of order) got[peer].push(await measureInChild(peer, redis.url, queueOf[peer]));
      }
      const med = (peer: Peer, key: keyof Measures) => {
        const values = got[peer].map((m) => m[key]).sort((a, b) => a - b);
        return values[Math.floor(values.length / 2)]!;
      };
      const where = `${count} worker process${count === 1 ? '' : 'es'}, ${JOBS_PER_WORKER} jobs each`;
      const of = (key: keyof Measures) => Object.fromEntries(PEERS.map((peer) => [peer, med(peer, key)]));
      rows.push({ case: `calls/s, ${IN_FLIGHT} in flight, ${where}`, unit: 'calls/s', results: of('callsPerS') });
      rows.push({ case: `one call at a time, ${where}`, unit: 'µs/call', results: of('latencyUs') });
      console.log(
        `${where}: spreads (min–max of ${RUNS}): ` +
          PEERS.map((peer) => `${peer} ${spread(got[peer].map((m) => m.callsPerS))} calls/s, ${spread(got[peer].map((m) => m.latencyUs))} µs`).join('; '),
      );
    }
    // calls/s: higher is better; latency: lower. One table each, so every ratio reads the same way.
    printTable('triode/remote vs BullMQ directly: throughput', rows.filter((r) => r.unit === 'calls/s'), 'triode', 'higher');
    printTable('triode/remote vs BullMQ directly: latency', rows.filter((r) => r.unit !== 'calls/s'), 'triode', 'lower');
  } finally {
    await Promise.all(fleet.map((worker) => stopChild(worker.child)));
    await redis.stop();
  }
}

const peerAt = process.argv.indexOf('--peer');
if (peerAt >= 0) await child(process.argv[peerAt + 1] as Peer, process.argv[peerAt + 2]!, process.argv[peerAt + 3]!);
else await main();
