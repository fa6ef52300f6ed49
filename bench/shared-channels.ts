// bench/shared-channels: moving data from a worker to the main thread through openSharedChannel,
// against postMessage and a MessageChannel port; and mapInWorkers against a call per item.
//   npm run bench:shared-channels
import { spawn } from 'node:child_process';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { EndOfChannel, WorkerPool, mapInWorkers, openNursery, openSharedChannel, run, runInWorker } from 'triode';
import { printTable } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SMALL = 1_000_000;
const SMALL_BYTES = 64;
const BIG_BYTES = 64 * 1024;
const BIG = 20_000; // 1.25 GiB in 64 KiB chunks
const MAP_ITEMS = 1_000_000;
const CALL_ITEMS = 20_000;
/** Items per call for piscina with hand batching (what a user of a per-call pool writes for small items). */
const HAND_BATCH = 1000;

const sharedWorker = new URL('./workers/shared-worker.js', import.meta.url);
const taskModule = fileURLToPath(new URL('./workers/task-worker.js', import.meta.url));

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/**
 * Runs every measurement once per round, for RUNS rounds, so that all of them see the same
 * machine (it is shared and noisy: compare by ratio); returns the median of each. Each
 * measurement runs alone in a fresh process (this file with `--case name`): the peers run
 * without triode's AsyncLocalStorage hook, and no case inherits another's heap or threads.
 */
async function rounds<K extends CaseName>(names: readonly K[]): Promise<Record<K, number>> {
  const values = new Map<K, number[]>(names.map((name) => [name, []]));
  for (let round = 0; round < RUNS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length]!; // rotated: no case always runs first
      values.get(name)!.push(await measureApart(name));
    }
  }
  return Object.fromEntries(names.map((name) => [name, median(values.get(name)!)])) as Record<K, number>;
}

function measureApart(name: CaseName): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--case', name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`${name} exited with ${code}`))));
  });
}

/** Runs `fn` with a pool of two threads of its own (only triode's cases make one). */
async function withPool(fn: (pool: WorkerPool) => Promise<number>): Promise<number> {
  const pool = new WorkerPool({ maxThreads: 2, minThreads: 2 });
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

/**
 * Messages (or bytes) per second through a shared channel, worker → main. `receive` is how the
 * main thread takes them: one value per step (`for await`), every value available per step
 * (receiveBatch), or each copied into one reused buffer (receiveInto). `sendBatch` > 0 sends
 * that many values per sendBatchSync.
 */
function sharedRate(
  count: number,
  size: number,
  pool: WorkerPool,
  receive: 'each' | 'batch' | 'into' = 'each',
  sendBatch = 0,
  capacityBytes = 1 << 20,
): Promise<number> {
  return run(async () => {
    const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes });
    const t0 = performance.now();
    let received = 0;
    await openNursery(async (n) => {
      n.startSoon(() =>
        tx.use(() =>
          sendBatch > 0
            ? runInWorker(sharedWorker, 'produceBytesBatched', [tx, count, size, sendBatch], { pool })
            : runInWorker(sharedWorker, 'produceBytes', [tx, count, size], { pool }),
        ),
      );
      if (receive === 'batch') {
        try {
          for (;;) for (const chunk of await rx.receiveBatch()) received += chunk.byteLength > 0 ? 1 : 0;
        } catch (error) {
          if (!(error instanceof EndOfChannel)) throw error;
        }
      } else if (receive === 'into') {
        const target = new Uint8Array(size);
        try {
          for (;;) received += (await rx.receiveInto(target)) > 0 ? 1 : 0;
        } catch (error) {
          if (!(error instanceof EndOfChannel)) throw error;
        }
      } else {
        for await (const chunk of rx) received += chunk.byteLength > 0 ? 1 : 0;
      }
    });
    if (received !== count) throw new Error(`received ${received} of ${count}`);
    return count / ((performance.now() - t0) / 1000);
  });
}

const postCode = (viaPort: boolean) => `
  const { parentPort, workerData } = require('node:worker_threads');
  const port = ${viaPort ? 'workerData.port' : 'parentPort'};
  const chunk = new Uint8Array(workerData.size).fill(7);
  for (let i = 0; i < workerData.count; i++) port.postMessage(chunk);
  port.postMessage(null);
`;

/** Messages per second sent by a worker with postMessage (to the main thread or through a port). */
function postRate(count: number, size: number, viaPort: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const channel = viaPort ? new MessageChannel() : undefined;
    const worker = new Worker(postCode(viaPort), {
      eval: true,
      workerData: { count, size, port: channel?.port2 },
      transferList: channel ? [channel.port2] : [],
    });
    const target = channel?.port1 ?? worker;
    let received = 0;
    let t0 = 0;
    worker.once('online', () => (t0 = performance.now()));
    target.on('message', (message: Uint8Array | null) => {
      if (message !== null) {
        received++;
        return;
      }
      const rate = received / ((performance.now() - t0) / 1000);
      channel?.port1.close();
      void worker.terminate().then(() => resolve(rate));
    });
    worker.on('error', reject);
  });
}

/**
 * Chunks per second of Buffer.copy in one thread: the ceiling. `where` picks the memory: one
 * 64 KiB buffer into another (cache-hot), or through 256 MiB of buffers, past every cache
 * (memory-bound).
 */
async function copyRate(count: number, size: number, where: 'hot' | 'memory'): Promise<number> {
  const span = where === 'memory' ? 256 << 20 : size;
  const source = Buffer.alloc(span, 7);
  const target = Buffer.alloc(span, 1); // filled: its pages exist before the clock starts
  const t0 = performance.now();
  let offset = 0;
  for (let i = 0; i < count; i++) {
    source.copy(target, offset, offset, offset + size);
    offset = offset + size >= span ? 0 : offset + size;
  }
  return count / ((performance.now() - t0) / 1000);
}

async function mapRate(pool: WorkerPool, batches: boolean): Promise<number> {
  return run(async () => {
    function* items(): Generator<number> {
      for (let i = 0; i < MAP_ITEMS; i++) yield i;
    }
    const t0 = performance.now();
    let n = 0;
    const map = mapInWorkers(items(), sharedWorker, 'identity', { pool, ordered: false }); // batch size: measured (the default)
    if (batches) for await (const values of map.batches()) n += values.length;
    else for await (const _ of map) n++;
    if (n !== MAP_ITEMS) throw new Error(`mapped ${n}`);
    return n / ((performance.now() - t0) / 1000);
  });
}

async function callPerItemRate(pool: WorkerPool): Promise<number> {
  return run(async () => {
    const t0 = performance.now();
    await openNursery(async (n) => {
      for (let i = 0; i < CALL_ITEMS; i++) n.startSoon(() => runInWorker(sharedWorker, 'identity', [i], { pool }));
    });
    return CALL_ITEMS / ((performance.now() - t0) / 1000);
  });
}

async function piscinaPerItemRate(): Promise<number> {
  const piscina = new Piscina({ filename: taskModule, maxThreads: 2, minThreads: 2 });
  await piscina.run({ op: 'add', a: 0, b: 0 });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CALL_ITEMS }, (_, i) => piscina.run({ op: 'add', a: i, b: 0 })));
  const rate = CALL_ITEMS / ((performance.now() - t0) / 1000);
  await piscina.destroy();
  return rate;
}

/** piscina with hand batching: the items cut into arrays of HAND_BATCH, one call each, all submitted at once. */
async function piscinaBatchedRate(): Promise<number> {
  const piscina = new Piscina({ filename: taskModule, maxThreads: 2, minThreads: 2 });
  await piscina.run({ op: 'add', a: 0, b: 0 });
  const t0 = performance.now();
  const calls: Promise<number[]>[] = [];
  for (let from = 0; from < MAP_ITEMS; from += HAND_BATCH) {
    const items = Array.from({ length: Math.min(HAND_BATCH, MAP_ITEMS - from) }, (_, i) => from + i);
    calls.push(piscina.run({ op: 'batch', a: 0, b: 0, items }) as Promise<number[]>);
  }
  let n = 0;
  for (const values of await Promise.all(calls)) n += values.length;
  if (n !== MAP_ITEMS) throw new Error(`mapped ${n}`);
  const rate = MAP_ITEMS / ((performance.now() - t0) / 1000);
  await piscina.destroy();
  return rate;
}

const MB = (perSecond: number) => (perSecond * BIG_BYTES) / 1e6;

const CASES = {
  'small/each': () => withPool((pool) => sharedRate(SMALL, SMALL_BYTES, pool)),
  'small/batch': () => withPool((pool) => sharedRate(SMALL, SMALL_BYTES, pool, 'batch')),
  'small/batches': () => withPool((pool) => sharedRate(SMALL, SMALL_BYTES, pool, 'batch', 256)),
  'small/postMessage': () => postRate(SMALL, SMALL_BYTES, false),
  'small/MessageChannel': () => postRate(SMALL, SMALL_BYTES, true),
  'big/receive': () => withPool((pool) => sharedRate(BIG, BIG_BYTES, pool)),
  'big/into': () => withPool((pool) => sharedRate(BIG, BIG_BYTES, pool, 'into')),
  'big/intoLarger': () => withPool((pool) => sharedRate(BIG, BIG_BYTES, pool, 'into', 0, 4 << 20)),
  'big/postMessage': () => postRate(BIG, BIG_BYTES, false),
  'big/MessageChannel': () => postRate(BIG, BIG_BYTES, true),
  'big/hot': () => copyRate(BIG, BIG_BYTES, 'hot'),
  'big/memory': () => copyRate(BIG, BIG_BYTES, 'memory'),
  'map/triode': () => withPool((pool) => mapRate(pool, false)),
  'map/triode batches': () => withPool((pool) => mapRate(pool, true)),
  'map/runInWorker per item': () => withPool(callPerItemRate),
  'map/piscina per item': piscinaPerItemRate,
  'map/piscina batched': piscinaBatchedRate,
} satisfies Record<string, () => Promise<number>>;
type CaseName = keyof typeof CASES;

async function main(): Promise<void> {
  const small = await rounds(['small/each', 'small/batch', 'small/batches', 'small/postMessage', 'small/MessageChannel']);
  const smallPeers = { postMessage: small['small/postMessage'], MessageChannel: small['small/MessageChannel'] };
  printTable('bench/shared-channels: 64-byte messages', [
    { case: `${SMALL} × ${SMALL_BYTES} B, worker → main, for await`, unit: 'msgs/s', results: { triode: small['small/each'], ...smallPeers } },
    { case: 'same, receiveBatch', unit: 'msgs/s', results: { triode: small['small/batch'], ...smallPeers } },
    { case: 'same, sendBatchSync(256) + receiveBatch', unit: 'msgs/s', results: { triode: small['small/batches'], ...smallPeers } },
  ], 'triode', 'higher');

  const big = await rounds(['big/receive', 'big/into', 'big/intoLarger', 'big/postMessage', 'big/MessageChannel', 'big/hot', 'big/memory']);
  const bigPeers = {
    postMessage: MB(big['big/postMessage']),
    MessageChannel: MB(big['big/MessageChannel']),
    'Buffer.copy': MB(big['big/hot']),
    'Buffer.copy, 256 MiB': MB(big['big/memory']),
  };
  printTable('bench/shared-channels: 64 KiB chunks', [
    { case: `${BIG} × 64 KiB, worker → main, receive (1 MiB ring)`, unit: 'MB/s', results: { triode: MB(big['big/receive']), ...bigPeers } },
    { case: 'same, receiveInto(one buffer)', unit: 'MB/s', results: { triode: MB(big['big/into']), ...bigPeers } },
    { case: 'same, receiveInto, 4 MiB ring', unit: 'MB/s', results: { triode: MB(big['big/intoLarger']), ...bigPeers } },
  ], 'triode', 'higher');

  const map = await rounds(['map/triode', 'map/triode batches', 'map/runInWorker per item', 'map/piscina per item', 'map/piscina batched']);
  const mapPeers = {
    'runInWorker per item': map['map/runInWorker per item'],
    'piscina per item': map['map/piscina per item'],
    [`piscina, ${HAND_BATCH} items a call`]: map['map/piscina batched'],
  };
  printTable('bench/shared-channels: mapInWorkers', [
    { case: 'trivial items, 2 threads, for await of results', unit: 'items/s', results: { triode: map['map/triode'], ...mapPeers } },
    { case: 'same, for await of .batches()', unit: 'items/s', results: { triode: map['map/triode batches'], ...mapPeers } },
  ], 'triode', 'higher');
  console.log(
    `\nEach round runs every case once, each in a fresh process (${RUNS} rounds, rotated; BENCH_RUNS=n to change). Buffer.copy: 64 KiB into 64 KiB in one ` +
      'thread (cache-hot, the ceiling); "256 MiB": the same through 256 MiB of buffers (memory-bound). ' +
      `mapInWorkers: ${MAP_ITEMS} items, batch size measured (the default), unordered; calls per item: ${CALL_ITEMS} calls.`,
  );
}

const caseArg = process.argv.indexOf('--case');
if (caseArg >= 0) {
  const name = process.argv[caseArg + 1] as CaseName;
  if (!(name in CASES)) throw new Error(`no case ${name}`);
  process.stdout.write(String(await CASES[name]()));
} else {
  await main();
}
