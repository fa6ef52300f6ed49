// triode/remote against a real redis-server and two real triode-worker processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  BrokenWorkerError,
  abandonOnCancel,
  CancelScope,
  Cancelled,
  failAfter,
  mapInWorkers,
  moveOnAfter,
  openNursery,
  openSharedChannel,
  run,
  runInWorker,
  sleep,
  TooSlowError,
  workerCallback,
  workerModule,
} from 'triode';
import { openRemotePool, RemotePool, type RemotePoolOptions } from 'triode/remote';
import { requestId } from '../fixtures/locals.js';
import { startRedis, startWorker, stopChild, type RedisServer, type WorkerProcess } from '../fixtures/remote-fleet.js';
import { rejection } from '../helpers.js';

// Without redis-server these tests cannot run: on a developer's machine they are skipped with a
// line saying so; CI (.ci/run installs it) sets TRIODE_REQUIRE_REDIS, so there they fail instead.
if (spawnSync('redis-server', ['--version']).error !== undefined && process.env.TRIODE_REQUIRE_REDIS === undefined) {
  console.log("SKIPPED: redis-server is not installed (Debian: apt-get install redis-server); the triode/remote tests need a real Redis");
  process.exit(0);
}

const module = new URL('../fixtures/remote-module.js', import.meta.url);
const localsModule = new URL('../fixtures/locals-module.js', import.meta.url);
const QUEUE = `triode-test-${process.pid}`;
// Short locks and checks, so a dead worker is noticed in a few seconds (defaults: 10 s and 5 s); a
// lock renewed every 1.5 s by an idle main thread leaves a wide margin on a loaded machine.
const WORKER_ARGS = ['--threads', '2', '--lock-ms', '3000', '--stalled-interval-ms', '500', '--kill-after-ms', '2000'];
/** Real time a test may take before it fails instead of hanging (≥ 10× what it needs here). */
const LIMIT_MS = 60_000;

let redis: RedisServer;
let workers: WorkerProcess[] = [];
let dir: string;

test.before(async () => {
  redis = await startRedis();
  workers = await Promise.all([startWorker(redis.url, QUEUE, WORKER_ARGS), startWorker(redis.url, QUEUE, WORKER_ARGS)]);
  dir = mkdtempSync(join(tmpdir(), 'triode-remote-'));
});

test.after(async () => {
  await Promise.all(workers.map((worker) => stopChild(worker.child)));
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function options(extra: Partial<RemotePoolOptions> = {}): RemotePoolOptions {
  return { redis: redis.url, queue: QUEUE, stalledIntervalMs: 500, ...extra };
}

/** A run with a remote pool, under a real-time deadline. */
function withRemote<T>(fn: (pool: RemotePool) => Promise<T>, extra: Partial<RemotePoolOptions> = {}): Promise<T> {
  return run(() => failAfter(LIMIT_MS, () => openRemotePool(options(extra), fn)));
}

function freshDir(name: string): string {
  const path = join(dir, name);
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true });
  return path;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

test('values cross with their types', async () => {
  await withRemote(async (pool) => {
    assert.is(await runInWorker(module, 'add', [2, 3], { pool }), 5);
    const date = new Date(1_700_000_000_000);
    assert.equal(await runInWorker(module, 'roundTrip', [date], { pool }), ['[object Date]', date]);
    const map = new Map<string, unknown>([['big', 12n], ['none', undefined], ['bytes', new Uint8Array([1, 2, 3])]]);
    assert.equal(await runInWorker(module, 'roundTrip', [map], { pool }), ['[object Map]', map]);
  });
});

test('200 concurrent calls spread over both workers', async () => {
  await withRemote(async (pool) => {
    const pids: number[] = [];
    await openNursery(async (nursery) => {
      for (let i = 0; i < 200; i++) nursery.startSoon(async () => void pids.push((await runInWorker(module, 'pid', [], { pool })) as number));
    });
    assert.is(pids.length, 200);
    assert.equal(new Set(pids), new Set(workers.map((worker) => worker.pid)), 'both worker processes served calls');
  });
});

test('maxInFlight bounds the jobs in Redis; the rest wait for a token', async () => {
  const gate = join(freshDir('inflight'), 'release');
  await withRemote(
    async (pool) => {
      await openNursery(async (nursery) => {
        for (let i = 0; i < 20; i++) nursery.startSoon(() => runInWorker(module, 'holdUntil', [gate], { pool }));
        await until(() => pool.limiter.borrowedTokens === 3 && pool.limiter.statistics().tasksWaiting === 17);
        await sleep(200);
        assert.is(pool.statistics().runningCalls, 3, 'three jobs in Redis, all running: a fourth thread is free but gets nothing');
        writeFileSync(gate, 'go');
      });
    },
    { maxInFlight: 3 },
  );
});

test('errors keep class, message, cause and the remote stack', async () => {
  await withRemote(async (pool) => {
    const error = (await rejection(runInWorker(module, 'fail', [], { pool }))) as Error;
    assert.instance(error, RangeError);
    assert.is(error.message, 'out of range');
    assert.instance(error.cause, TypeError);
    assert.is((error.cause as Error).message, 'the inner reason');
    assert.match(error.stack!, /remote-module\.js/, "the worker's own frames");
    assert.match(error.stack!, /on remote worker [^\s]+\/\d+, queue /, 'where it ran');
    const triode = await rejection(runInWorker(module, 'failTriode', [], { pool }));
    assert.instance(triode, TooSlowError, "triode's own classes too");
  });
});

test('a missing export rejects with a clear error and the worker keeps serving', async () => {
  await withRemote(async (pool) => {
    const error = (await rejection(runInWorker(module, 'noSuchExport', [], { pool }))) as Error;
    assert.match(error.message, /noSuchExport/);
    assert.is(await runInWorker(module, 'add', [1, 1], { pool }), 2);
  });
});

test('cancelled while queued: removed from Redis, never runs', async () => {
  const gate = join(freshDir('queued'), 'release');
  const marker = join(dir, 'queued', 'ran');
  await withRemote(async (pool) => {
    await openNursery(async (nursery) => {
      // Each worker takes 4 jobs at a time (twice its 2 threads): hold all 8, so the next call stays in Redis.
      for (let i = 0; i < 8; i++) nursery.startSoon(() => runInWorker(module, 'holdUntil', [gate], { pool }));
      await until(() => pool.statistics().runningCalls === 8);
      const scope = new CancelScope();
      nursery.startSoon(() => scope.run(() => runInWorker(module, 'mark', [marker], { pool })));
      await until(() => pool.statistics().queuedCalls === 1);
      scope.cancel();
      await until(() => pool.statistics().queuedCalls === 0);
      assert.ok(scope.cancelledCaught, 'the call raised Cancelled');
      writeFileSync(gate, 'go');
    });
    // Every thread is free again: a job left in Redis would have run by the time this one has, twice over.
    for (let i = 0; i < 8; i++) await runInWorker(module, 'add', [i, 0], { pool });
    assert.not.ok(existsSync(marker), 'the cancelled job never ran');
  });
});

test('cancelled while taken by a worker but waiting there for a thread: never starts', async () => {
  const job = freshDir('taken');
  await withRemote(async (pool) => {
    const scope = new CancelScope();
    await openNursery(async (nursery) => {
      // 8 jobs: each worker takes 4 and runs 2 (its threads); the other 2 wait in the worker.
      nursery.startSoon(() =>
        scope.run(() =>
          openNursery(async (calls) => {
            for (let i = 0; i < 8; i++) calls.startSoon(() => runInWorker(module, 'markThenHold', [join(job, `started-${i}`), join(job, 'never')], { pool }));
          }),
        ),
      );
      await until(() => pool.statistics().runningCalls === 8 && readdirSync(job).length === 4);
      scope.cancel();
    });
    assert.ok(scope.cancelledCaught);
    assert.is(readdirSync(job).length, 4, 'the 4 jobs waiting for a thread never started');
    assert.is(pool.statistics().runningCalls, 0);
  });
});

test('cancelled while running: the cancel word stops it (cooperative)', async () => {
  const job = freshDir('running');
  await withRemote(async (pool) => {
    const scope = new CancelScope();
    await openNursery(async (nursery) => {
      nursery.startSoon(() => scope.run(() => runInWorker(module, 'cooperative', [job], { pool })));
      await until(() => existsSync(join(job, 'started')));
      scope.cancel();
    });
    assert.ok(scope.cancelledCaught);
    assert.ok(existsSync(join(job, 'stopped')), 'the job stopped at its checkpoint');
  });
});

test("'kill' terminates a job that never checks; its worker keeps serving", async () => {
  const job = freshDir('kill');
  await withRemote(async (pool) => {
    const scope = new CancelScope();
    await openNursery(async (nursery) => {
      nursery.startSoon(() => scope.run(() => runInWorker(module, 'spin', [job], { pool, cancel: 'kill', killAfterMs: 100 })));
      await until(() => existsSync(join(job, 'started')));
      scope.cancel();
    });
    assert.ok(scope.cancelledCaught, 'the call ended with Cancelled');
    const owner = Number((await runInWorker(module, 'readPid', [job], { pool })) as number);
    assert.ok(workers.some((worker) => worker.pid === owner), 'the worker process survived its thread');
  });
});

test("'abandon': the call raises Cancelled, and the remote job is still told to stop", async () => {
  const job = freshDir('abandon');
  await withRemote(async (pool) => {
    const scope = new CancelScope();
    await openNursery(async (nursery) => {
      nursery.startSoon(() => scope.run(() => runInWorker(module, 'cooperative', [job], { pool, cancel: 'abandon' })));
      await until(() => existsSync(join(job, 'started')));
      scope.cancel();
    });
    assert.ok(scope.cancelledCaught);
    await until(() => existsSync(join(job, 'stopped')));
    await until(() => pool.statistics().runningCalls === 0);
  });
});

test('cross-thread TaskLocals reach the remote call', async () => {
  await withRemote(async (pool) => {
    requestId.set('remote-42');
    assert.equal(await runInWorker(localsModule, 'readSync', [], { pool }), ['remote-42', undefined, 'unset']);
  });
});

test('workerModule and mapInWorkers work over a remote pool', async () => {
  await withRemote(async (pool) => {
    const remote = workerModule<typeof import('../fixtures/remote-module.js')>(module, { pool });
    assert.is(await remote.add(40, 2), 42);
    const items = Array.from({ length: 300 }, (_, i) => (i >= 13 ? i + 1 : i)); // no 13
    const got: number[] = [];
    for await (const value of mapInWorkers<number, number>(items, module, 'square', { pool, batchSize: 16 })) got.push(value);
    assert.equal(got, items.map((i) => i * i), 'in source order');
    const unordered: number[] = [];
    for await (const value of mapInWorkers<number, number>(items, module, 'square', { pool, ordered: false, concurrency: 3 })) unordered.push(value);
    assert.equal(unordered.sort((a, b) => a - b), items.map((i) => i * i).sort((a, b) => a - b));
    const error = await rejection(
      (async () => {
        for await (const _ of mapInWorkers([1, 2, 13, 4], module, 'square', { pool })) {
          // consume
        }
      })(),
    );
    assert.instance(error, RangeError, 'a failing item ends the map with its error');
  });
});

test('mapInWorkers over a remote pool, cancelled (the twin): the batches in flight stop, nothing is left running', async () => {
  const never = join(freshDir('map-cancel'), 'never');
  await withRemote(async (pool) => {
    let received = 0;
    const result = await moveOnAfter(500, async () => {
      for await (const _ of mapInWorkers(Array.from({ length: 16 }, () => never), module, 'holdUntil', { pool, batchSize: 1, concurrency: 4 })) received++;
      return 'finished';
    });
    assert.is(result, undefined, 'the deadline ended the map');
    assert.is(received, 0);
    assert.is(pool.statistics().runningCalls + pool.statistics().queuedCalls, 0, 'the map waited for its calls to stop');
    assert.is(await runInWorker(module, 'add', [1, 2], { pool }), 3, 'every thread is free again');
  });
});

test('garbage in Redis: a malformed job is answered with an error and the worker serves on; a malformed result rejects its call', async () => {
  const { Queue, Worker } = await import('bullmq');
  const connection = { url: redis.url };
  // A job whose data no triode protocol reads, on the workers' queue.
  const queue = new Queue(QUEUE, { connection });
  await queue.add('triode', { v: 1, module: 42, exportName: ['x'] }, { removeOnComplete: true });
  await queue.add('triode', 'not even an object', { removeOnComplete: true });
  await queue.close();
  // A fake worker on a queue of its own that answers with garbage.
  const fakeQueue = `${QUEUE}-fake`;
  const answers: unknown[] = [{ outcome: '%%% not base64 of an outcome %%%' }, 42, { value: { nested: 'not JSON-exact' } }];
  let next = 0;
  const fake = new Worker(fakeQueue, async () => answers[next++ % answers.length], { connection, concurrency: 1 });
  try {
    await withRemote(async (pool) => {
      assert.is(await runInWorker(module, 'add', [2, 2], { pool }), 4, 'the workers serve on');
    });
    await withRemote(
      async (pool) => {
        for (let i = 0; i < answers.length; i++) {
          const error = await rejection(runInWorker(module, 'add', [1, 1], { pool }));
          assert.instance(error, TypeError, String(error));
          assert.match((error as Error).message, /add's|malformed/);
        }
      },
      { queue: fakeQueue },
    );
  } finally {
    await fake.close();
  }
});

test('what lives in this process cannot go to a remote pool: refused before anything is sent', async () => {
  await withRemote(async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 1024 });
    const endpoint = await rejection(runInWorker(module, 'roundTrip', [tx], { pool }));
    assert.instance(endpoint, TypeError);
    assert.match((endpoint as Error).message, /argument 1 is a shared-channel endpoint, which cannot reach a remote pool/);
    const callback = await rejection(runInWorker(module, 'roundTrip', [workerCallback(() => 1)], { pool }));
    assert.match((callback as Error).message, /argument 1 is a workerCallback/);
    const shared = await rejection(runInWorker(module, 'roundTrip', [new SharedArrayBuffer(8)], { pool }));
    assert.match((shared as Error).message, /SharedArrayBuffer/);
    const uncloneable = await rejection(runInWorker(module, 'roundTrip', [() => 1], { pool }));
    assert.instance(uncloneable, TypeError);
    tx.close();
    rx.close();
    assert.is(pool.statistics().queuedCalls + pool.statistics().runningCalls, 0);
  });
});

test('a worker runs only modules of its folder: node: and data: URLs and other folders are refused', async () => {
  const marker = join(dir, 'rce');
  await withRemote(async (pool) => {
    for (const module of ['node:child_process', `data:text/javascript,export function execSync(c){return 1}`, 'file:///etc/passwd.js']) {
      const error = (await rejection(runInWorker(module, 'execSync', [`touch ${marker}`], { pool }))) as Error;
      assert.instance(error, TypeError, module);
      assert.match(error.message, /is outside the modules this worker runs/);
    }
    assert.not.ok(existsSync(marker));
  });
});

test('bad options are refused, naming the option', async () => {
  await run(async () => {
    for (const [bad, pattern] of [
      [{ redis: 'http://x', queue: 'q' }, /options\.redis must be a redis:\/\//],
      [{ redis: redis.url, queue: '' }, /options\.queue/],
      [{ redis: redis.url, queue: 'a:b' }, /options\.queue/],
      [{ redis: redis.url, queue: 'q', maxInFlight: 0 }, /maxInFlight/],
    ] as const) {
      const error = await rejection(openRemotePool(bad as unknown as RemotePoolOptions, () => 1));
      assert.ok(error instanceof TypeError || error instanceof RangeError, String(error));
      assert.match((error as Error).message, pattern);
    }
    const error = await rejection(runInWorker(module, 'add', [1, 2], { pool: {} as RemotePool }));
    assert.match((error as Error).message, /options\.pool must be a WorkerPool or a RemotePool/);
  });
});

test('an unreachable Redis: opening waits until the caller gives up (cancelled twin)', async () => {
  await run(async () => {
    let reached = false;
    const result = await moveOnAfter(300, () =>
      openRemotePool({ redis: 'redis://127.0.0.1:1', queue: 'q' }, () => {
        reached = true;
        return 'opened';
      }),
    );
    assert.is(result, undefined, 'the deadline cancelled the open');
    assert.not.ok(reached);
  });
});

test('triode-worker: --help, and a bad argument exits 2 naming it', () => {
  const bin = fileURLToPath(new URL('../../../bin/triode-worker.mjs', import.meta.url));
  const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  assert.is(help.status, 0);
  assert.match(help.stdout, /--redis <url>/);
  for (const [args, pattern] of [
    [['--queue', 'q'], /--redis is required/],
    [['--redis', 'redis://x', '--queue', 'q', '--threads', '0'], /--threads must be an integer ≥ 1/],
    [['--redis', 'redis://x', '--queue', 'q', '--bogus'], /unknown argument "--bogus"/],
    [['--redis', 'ftp://x', '--queue', 'q'], /redis/],
  ] as const) {
    const out = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
    assert.is(out.status, 2, out.stderr);
    assert.match(out.stderr, pattern);
  }
});

test('examples/remote/client runs against the workers and says what it did', async () => {
  const client = fileURLToPath(new URL('../../examples/remote/client.js', import.meta.url));
  const out = spawnSync(process.execPath, [client], { encoding: 'utf8', env: { ...process.env, REDIS_URL: redis.url, QUEUE }, timeout: LIMIT_MS });
  assert.is(out.status, 0, out.stderr);
  assert.match(out.stdout, /8 calls served by: pid \d+/);
  assert.match(out.stdout, /primes below 200,000: 17984/);
  assert.match(out.stdout, /sum of the squares below 1,000: 332833500/);
  assert.match(out.stdout, /a call cut off by a 200 ms deadline: cancelled/);
});

test('Redis dies under a queued call: cancelling the call returns promptly (no wait for Redis), and the pool closes', async () => {
  const own = await startRedis();
  try {
    await run(() =>
      failAfter(LIMIT_MS, async () => {
        const pool = new RemotePool({ redis: own.url, queue: 'no-workers', stalledIntervalMs: 500 });
        await abandonOnCancel(pool.ready);
        const scope = new CancelScope();
        let stoppedAt = 0;
        let endedAt = 0;
        await openNursery(async (nursery) => {
          nursery.startSoon(async () => {
            await scope.run(() => runInWorker(module, 'add', [1, 2], { pool })); // no worker serves this queue
            endedAt = performance.now();
          });
          await until(() => pool.statistics().queuedCalls === 1);
          await own.stop(); // under the queued call
          stoppedAt = performance.now();
          scope.cancel();
        });
        assert.ok(scope.cancelledCaught, 'the call raised Cancelled');
        assert.ok(endedAt - stoppedAt < 5_000, `it ended ${(endedAt - stoppedAt).toFixed(0)} ms after Redis stopped`);
        const closing = performance.now();
        await pool.close();
        assert.ok(performance.now() - closing < 10_000, 'close gives up on a dead Redis after its grace');
      }),
    );
  } finally {
    await own.stop();
  }
});

/**
 * Runs `exportName` (which writes `<job>/started` with its pid) on `pool`, sends `signal` to the
 * worker process running it, waits for that process to exit, and takes it out of the fleet.
 */
async function signalMidJob(pool: RemotePool, exportName: string, job: string, signal: NodeJS.Signals) {
  let error: unknown;
  let worker: WorkerProcess | undefined;
  let exitCode: number | null = null;
  let exitMs = 0;
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      error = await rejection(runInWorker(module, exportName, [job], { pool }));
    });
    await until(() => existsSync(join(job, 'started')));
    worker = workers.find((w) => w.pid === Number(readFileSync(join(job, 'started'), 'utf8')));
    assert.ok(worker !== undefined, 'the job runs in one of the workers');
    const signalled = performance.now();
    worker!.child.kill(signal);
    exitCode = await worker!.exited;
    exitMs = performance.now() - signalled;
    workers = workers.filter((w) => w !== worker);
  });
  return { error, worker: worker!, exitCode, exitMs };
}

test('kill -9 of a worker process mid-job: the call fails with BrokenWorkerError, the other worker keeps serving', async () => {
  await withRemote(async (pool) => {
    const { error } = await signalMidJob(pool, 'spin', freshDir('sigkill'), 'SIGKILL');
    assert.instance(error, BrokenWorkerError);
    assert.match((error as Error).message, /was lost/);
    for (let i = 0; i < 4; i++) assert.is(await runInWorker(module, 'pid', [], { pool }), workers[0]!.pid);
  });
  workers.push(await startWorker(redis.url, QUEUE, WORKER_ARGS));
});

test('SIGTERM to a worker running a job that never checks: its thread is killed after --kill-after-ms, the worker exits', async () => {
  await withRemote(async (pool) => {
    const { error, exitCode, exitMs } = await signalMidJob(pool, 'spin', freshDir('sigterm-spin'), 'SIGTERM');
    assert.is(exitCode, 0, 'a clean exit');
    assert.ok(exitMs >= 1500, 'the job had its --kill-after-ms (2 s) to stop first');
    assert.instance(error, BrokenWorkerError);
    assert.match((error as Error).message, /was stopped while running spin/);
  });
  workers.push(await startWorker(redis.url, QUEUE, WORKER_ARGS));
});

test('SIGTERM to a worker: it stops cleanly, its running job is cancelled and its caller told', async () => {
  const job = freshDir('sigterm');
  await withRemote(async (pool) => {
    const { error, worker, exitCode } = await signalMidJob(pool, 'cooperative', job, 'SIGTERM');
    assert.is(exitCode, 0, 'a clean exit');
    assert.match(worker.output(), /stopped on SIGTERM \(1 running job cancelled\)/);
    assert.instance(error, BrokenWorkerError, 'not Cancelled: the caller did not cancel it');
    assert.not.instance(error, Cancelled);
    assert.match((error as Error).message, /was stopped while running cooperative/);
    assert.ok(existsSync(join(job, 'stopped')), 'it stopped at its checkpoint');
  });
});

test.run();
