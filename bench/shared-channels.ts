// bench/shared-channels: moving data from a worker to the main thread through openSharedChannel,
// against postMessage and a MessageChannel port; and mapInWorkers against a call per item.
//   npm run bench:shared-channels
import { MessageChannel, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { EndOfChannel, WorkerPool, mapInWorkers, openNursery, openSharedChannel, run, runInWorker } from 'triode';
import { printTable, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SMALL = 1_000_000;
const SMALL_BYTES = 64;
const BIG_BYTES = 64 * 1024;
const BIG = 20_000; // 1.25 GiB in 64 KiB chunks
const MAP_ITEMS = 1_000_000;
const CALL_ITEMS = 20_000;

const sharedWorker = new URL('./workers/shared-worker.js', import.meta.url);
const taskModule = fileURLToPath(new URL('./workers/task-worker.js', import.meta.url));

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

async function repeat(fn: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < RUNS; i++) values.push(await fn());
  return median(values);
}

/**
 * Messages (or bytes) per second through a shared channel, worker → main. `receive` is how the
 * main thread takes them: one value per step (`for await`), every value available per step
 * (receiveBatch), or each copied into one reused buffer (receiveInto). `sendBatch` > 0 sends
 * that many values per sendBatchSync.
 */
function sharedRate(count: number, size: number, pool: WorkerPool, receive: 'each' | 'batch' | 'into' = 'each', sendBatch = 0): Promise<number> {
  return run(async () => {
    const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: Math.max(1 << 20, size * 16) });
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

/** Bytes per second of Buffer.copy in one thread: the memory-bandwidth ceiling. */
async function copyRate(count: number, size: number): Promise<number> {
  const source = Buffer.alloc(size, 7);
  const target = Buffer.alloc(size);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) source.copy(target);
  return count / ((performance.now() - t0) / 1000);
}

async function mapRate(pool: WorkerPool): Promise<number> {
  return run(async () => {
    function* items(): Generator<number> {
      for (let i = 0; i < MAP_ITEMS; i++) yield i;
    }
    const t0 = performance.now();
    let n = 0;
    for await (const _ of mapInWorkers(items(), sharedWorker, 'identity', { pool, ordered: false, batchSize: 256 })) n++;
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

async function main(): Promise<void> {
  const pool = new WorkerPool({ maxThreads: 2, minThreads: 2 });
  const MB = (perSecond: number) => (perSecond * BIG_BYTES) / 1e6;
  const small = {
    postMessage: await repeat(() => postRate(SMALL, SMALL_BYTES, false)),
    MessageChannel: await repeat(() => postRate(SMALL, SMALL_BYTES, true)),
    'Buffer.copy': NaN,
  };
  const big = {
    postMessage: MB(await repeat(() => postRate(BIG, BIG_BYTES, false))),
    MessageChannel: MB(await repeat(() => postRate(BIG, BIG_BYTES, true))),
    'Buffer.copy': MB(await repeat(() => copyRate(BIG, BIG_BYTES))),
  };
  const rows: Row[] = [
    {
      case: `${SMALL} × ${SMALL_BYTES} B, worker → main`,
      unit: 'msgs/s',
      results: { triode: await repeat(() => sharedRate(SMALL, SMALL_BYTES, pool)), ...small },
    },
    {
      case: `same, receiveBatch`,
      unit: 'msgs/s',
      results: { triode: await repeat(() => sharedRate(SMALL, SMALL_BYTES, pool, 'batch')), ...small },
    },
    {
      case: `same, sendBatchSync(256) + receiveBatch`,
      unit: 'msgs/s',
      results: { triode: await repeat(() => sharedRate(SMALL, SMALL_BYTES, pool, 'batch', 256)), ...small },
    },
    {
      case: `${BIG} × 64 KiB, worker → main`,
      unit: 'MB/s',
      results: {
        triode: MB(await repeat(() => sharedRate(BIG, BIG_BYTES, pool))),
        ...big,
      },
    },
    {
      case: `same, receiveInto(one buffer)`,
      unit: 'MB/s',
      results: { triode: MB(await repeat(() => sharedRate(BIG, BIG_BYTES, pool, 'into'))), ...big },
    },
  ];
  printTable('bench/shared-channels: moving data', rows, 'triode', 'higher');
  printTable('bench/shared-channels: mapInWorkers', [
    {
      case: 'trivial items, 2 threads',
      unit: 'items/s',
      results: {
        triode: await repeat(() => mapRate(pool)),
        'runInWorker per item': await repeat(() => callPerItemRate(pool)),
        'piscina per item': await repeat(piscinaPerItemRate),
      },
    },
  ], 'triode', 'higher');
  console.log(`\nmapInWorkers: ${MAP_ITEMS} items, batches of 256, unordered; calls per item: ${CALL_ITEMS} calls.`);
  await pool.close();
}

await main();
