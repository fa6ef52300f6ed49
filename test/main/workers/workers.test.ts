// Worker calls, for real threads (so real time, with 10x slack).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  BrokenResourceError,
  BrokenWorkerError,
  Cancelled,
  ClosedResourceError,
  WorkerPool,
  checkpoint,
  moveOnAfter,
  sleepForever,
  openNursery,
  openWorkerPool,
  run,
  runInWorker,
  workerModule,
  workerCallback,
  sleep,
  lowlevel,
  dumpTaskTree,
  type WorkerPoolOptions,
} from 'triode';
import { checkpoint as workerCheckpoint, isCancelled, sleepSync } from 'triode/worker';
import { rejection } from '../../helpers.js';

const fixture = new URL('../../fixtures/worker-module.js', import.meta.url);
type Fixture = typeof import('../../fixtures/worker-module.js');

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}

test('a sync export runs in a worker and returns its value; workerModule is typed', async () => {
  await run(async () => {
    assert.is(await runInWorker(fixture, 'add', [2, 3]), 5);
    assert.is(await runInWorker(fileURLToPath(fixture), 'add', [1, 1]), 2, 'a path works too');
    const mod = workerModule<Fixture>(fixture);
    const sum: number = await mod.add(40, 2);
    assert.is(sum, 42);
    assert.equal(await mod.echo({ a: [1, 2], m: new Map([[1, 'x']]) }), { a: [1, 2], m: new Map([[1, 'x']]) });
  });
});

test('an async export runs inside its own run() in the worker', async () => {
  await run(async () => {
    assert.is(await runInWorker(fixture, 'asyncWork', [5]), 'two tasks slept 5 ms: 2');
  });
});

test('errors cross with their class, message, cause and worker frames', async () => {
  await run(async () => {
    const e1 = (await rejection(runInWorker(fixture, 'throwTypeError'))) as Error;
    assert.instance(e1, TypeError);
    assert.is(e1.message, 'bad type');
    assert.instance(e1.cause, RangeError);
    assert.is((e1.cause as Error).message, 'the cause');
    assert.match(e1.stack!, /worker-module\.js/);
    assert.match(e1.stack!, /in a worker thread/);
    const e2 = await rejection(runInWorker(fixture, 'throwTriodeError'));
    assert.instance(e2, BrokenResourceError);
    const e3 = (await rejection(runInWorker(fixture, 'throwCustom'))) as Error;
    assert.instance(e3, Error);
    assert.is(e3.name, 'CustomError');
    assert.is(e3.message, 'custom');
  });
});

test('a missing export or module rejects with an Error naming both', async () => {
  await run(async () => {
    const e1 = (await rejection(runInWorker(fixture, 'noSuchExport'))) as Error;
    assert.match(e1.message, /worker-module\.js has no function export named "noSuchExport"/);
    const e2 = (await rejection(runInWorker('/nonexistent/module.js', 'f'))) as Error;
    assert.match(e2.message, /cannot load worker module file:\/\/\/nonexistent\/module\.js/);
  });
});

test('an argument that cannot cross a thread is rejected by position before dispatch', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    const before = pool.statistics().completedCalls;
    const error = (await rejection(runInWorker(fixture, 'echo', [1, { f: () => 1 }], { pool }))) as Error;
    assert.instance(error, TypeError);
    assert.match(error.message, /argument 2\["f"\] is a function/);
    assert.is(pool.statistics().completedCalls, before);
    const back = (await rejection(runInWorker(fixture, 'returnFunction', [], { pool }))) as Error;
    assert.instance(back, TypeError);
    assert.match(back.message, /returnFunction returned a value that cannot be sent back/);
  });
});

function openWorkerPoolRun<T>(options: WorkerPoolOptions, fn: (pool: WorkerPool) => Promise<T>): Promise<T> {
  return run(() => openWorkerPool(options, fn));
}

test('cooperative cancel stops a loop that checkpoints, at once', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    await runInWorker(fixture, 'add', [0, 0], { pool }); // warm the thread
    const [result, ms] = await timed(() => moveOnAfter(50, () => runInWorker(fixture, 'loopWithCheckpoint', [], { pool })));
    assert.is(result, undefined);
    assert.ok(ms < 500, `took ${ms} ms`);
    assert.is(await runInWorker(fixture, 'add', [1, 2], { pool }), 3, 'the thread is still usable');
  });
});

test('cooperative cancel waits for code that never checks; its result comes back, then Cancelled', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    await runInWorker(fixture, 'add', [0, 0], { pool }); // a warm thread, so the call starts at once
    let result: unknown;
    let reachedCheckpoint = false;
    const [, ms] = await timed(() => moveOnAfter(20, async () => {
      result = await runInWorker(fixture, 'busyIgnoringCancel', [300], { pool });
      await checkpoint();
      reachedCheckpoint = true;
    }));
    assert.is(result, 'busy 300 ms', 'the work was done, so its result is not thrown away');
    assert.not.ok(reachedCheckpoint, 'the next checkpoint raised Cancelled');
    assert.ok(ms >= 290, `returned after ${ms} ms, before the worker finished`);
  });
});

test('sleepSync wakes at once on cancel; async exports are cancelled through their root scope', async () => {
  await openWorkerPoolRun({ maxThreads: 2 }, async (pool) => {
    const [r1, ms1] = await timed(() => moveOnAfter(30, () => runInWorker(fixture, 'sleepLong', [10_000], { pool })));
    assert.is(r1, undefined);
    assert.ok(ms1 < 1000, `sleepSync took ${ms1} ms`);
    const [r2, ms2] = await timed(() => moveOnAfter(30, () => runInWorker(fixture, 'asyncWork', [10_000], { pool })));
    assert.is(r2, undefined);
    assert.ok(ms2 < 1000, `the async export took ${ms2} ms`);
  });
});

test("kill mode terminates a thread that never checks, after killAfterMs; the pool recovers", async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    await runInWorker(fixture, 'add', [0, 0], { pool });
    const [result, ms] = await timed(() =>
      moveOnAfter(20, () => runInWorker(fixture, 'loopForever', [], { pool, cancel: 'kill', killAfterMs: 30 })));
    assert.is(result, undefined, 'the Cancelled was absorbed by the scope, not a BrokenWorkerError');
    assert.ok(ms < 1000, `kill took ${ms} ms`);
    assert.is(await runInWorker(fixture, 'add', [2, 2], { pool }), 4);
  });
});

test('abandon mode returns at once; the slot is freed when the thread finishes', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    await runInWorker(fixture, 'add', [0, 0], { pool });
    const [result, ms] = await timed(() =>
      moveOnAfter(20, () => runInWorker(fixture, 'busyIgnoringCancel', [300], { pool, cancel: 'abandon' })));
    assert.is(result, undefined);
    assert.ok(ms < 250, `abandon took ${ms} ms`);
    assert.is(pool.statistics().runningCalls, 1, 'the abandoned job still holds its thread');
    const [value, ms2] = await timed(() => runInWorker(fixture, 'add', [1, 1], { pool }));
    assert.is(value, 2);
    assert.ok(ms + ms2 >= 250, 'the next call waited for the abandoned one to free the thread');
  });
});

test('a call cancelled before its thread started it is skipped: it never starts, and nobody waits', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    // A cold pool: the thread is still starting when the 1 ms timeout fires.
    const [result, ms] = await timed(() => moveOnAfter(1, () => runInWorker(fixture, 'markStarted', [counter, 0], { pool })));
    assert.is(result, undefined);
    assert.ok(ms < 500, `took ${ms} ms`);
    assert.is(await runInWorker(fixture, 'add', [1, 1], { pool }), 2);
    assert.is(Atomics.load(counter, 0), 0, 'the cancelled job never ran');
  });
});

test('a queued call that is cancelled never starts', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    await openNursery(async (n) => {
      n.startSoon(() => runInWorker(fixture, 'busyIgnoringCancel', [200], { pool }));
      n.startSoon(async () => {
        assert.is(await moveOnAfter(30, () => runInWorker(fixture, 'markStarted', [counter, 0], { pool })), undefined);
      });
    });
    assert.is(Atomics.load(counter, 0), 0, 'the cancelled job never ran');
    assert.is(await runInWorker(fixture, 'markStarted', [counter, 0], { pool }), 'finished');
    assert.is(Atomics.load(counter, 0), 1);
  });
});

test('a thread that dies mid-call gives BrokenWorkerError and the pool serves the next call', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    assert.instance(await rejection(runInWorker(fixture, 'exitThread', [], { pool })), BrokenWorkerError);
    assert.is(await runInWorker(fixture, 'add', [1, 2], { pool }), 3);
    assert.instance(await rejection(runInWorker(fixture, 'crashInTimer', [], { pool })), BrokenWorkerError);
    assert.is(await runInWorker(fixture, 'add', [2, 2], { pool }), 4);
  });
  await openWorkerPoolRun({ maxThreads: 1, resourceLimits: { maxOldGenerationSizeMb: 32 } }, async (pool) => {
    assert.instance(await rejection(runInWorker(fixture, 'allocateForever', [], { pool })), BrokenWorkerError);
    assert.is(await runInWorker(fixture, 'add', [3, 3], { pool }), 6);
  });
});

test('openWorkerPool closes its pool; a closed pool refuses calls; options are checked', async () => {
  let saved: WorkerPool | undefined;
  await openWorkerPoolRun({ maxThreads: 2 }, async (pool) => {
    saved = pool;
    await runInWorker(fixture, 'add', [1, 1], { pool });
    const stats = pool.statistics();
    assert.is(stats.maxThreads, 2);
    assert.is(stats.completedCalls, 1);
  });
  assert.ok(saved!.isClosed);
  await run(async () => {
    assert.instance(await rejection(runInWorker(fixture, 'add', [1, 1], { pool: saved! })), ClosedResourceError);
    assert.instance(await rejection(runInWorker(fixture, 'add', [1, 1], { cancel: 'explode' as never })), TypeError);
  });
  assert.throws(() => new WorkerPool({ maxThreads: 0 }), (e: Error) => e instanceof RangeError);
});

test('runInWorker is a checkpoint: a cancelled caller never dispatches', async () => {
  await run(async () => {
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const result = await moveOnAfter(0, () => runInWorker(fixture, 'markStarted', [counter, 0]));
    assert.is(result, undefined);
    assert.is(Atomics.load(counter, 0), 0);
  });
});

test('the worker-side API throws a clear Error outside a worker call and outside a run', () => {
  assert.throws(() => workerCheckpoint(), /must be called inside a worker call/);
  assert.throws(() => isCancelled(), /inside a worker call/);
  assert.throws(() => sleepSync(1), /inside a worker call/);
});

test('in a run on the main thread, checkpoint() and isCancelled() from triode/worker follow the task\'s scopes (worker modules can be unit-tested)', async () => {
  await run(async () => {
    assert.is(isCancelled(), false);
    workerCheckpoint(); // not cancelled: returns
    const result = await moveOnAfter(10_000, async (scope) => {
      scope.cancel();
      assert.is(isCancelled(), true);
      workerCheckpoint(); // raises the scope's Cancelled, which the scope absorbs
      return 'not reached';
    });
    assert.is(result, undefined);
  });
});

test('a program using the default pool exits on its own when its run ends', async () => {
  const script = `
    import { run, runInWorker } from 'triode';
    const v = await run(() => runInWorker(${JSON.stringify(fixture.href)}, 'add', [20, 22]));
    console.log('result', v);
  `;
  const cwd = fileURLToPath(new URL('../../../', import.meta.url));
  const t0 = performance.now();
  const out = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`did not exit: ${text}`)); }, 15_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, text }); });
  });
  assert.is(out.code, 0, out.text);
  assert.match(out.text, /result 42/);
  assert.ok(performance.now() - t0 < 15_000);
});

test('a worker calls back into the main thread, inside the calling task; errors come back', async () => {
  await run(async () => {
    const seen: number[] = [];
    const answers = await runInWorker(fixture, 'withProgress', [3, workerCallback(async (step: number) => {
      seen.push(step);
      await sleep(1); // triode works here: this runs as a task of the caller
      return `ack ${step} in ${lowlevel.currentTask().name}`;
    })]);
    assert.equal(seen, [1, 2, 3]);
    assert.equal((answers as string[]).map((a) => a.replace(/ in .*/, '')), ['ack 1', 'ack 2', 'ack 3']);
    const mod = workerModule<Fixture>(fixture);
    assert.is(await mod.syncWithCallback(workerCallback((n: number) => `sync ${n}`)), 'sync 7');
    const error = (await rejection(runInWorker(fixture, 'withProgress', [1, workerCallback(() => {
      throw new RangeError('main side failed');
    })]))) as Error;
    assert.instance(error, RangeError);
    assert.match(error.message, /main side failed/);
  });
});

test('cancelling a caller while its worker waits inside a workerCallback: the callback task is cancelled, the call ends', async () => {
  await run(async () => {
    let callbackFinally = false;
    let entered = false;
    const started = performance.now();
    const result = await moveOnAfter(300, () =>
      runInWorker(fixture, 'withProgress', [1, workerCallback(async () => {
        entered = true;
        try {
          await sleepForever();
        } finally {
          callbackFinally = true;
        }
        return 'never';
      })]),
    );
    assert.is(result, undefined, 'the scope absorbed the cancellation');
    assert.ok(entered, 'the worker was inside the callback');
    assert.ok(callbackFinally, 'the callback task was cancelled and unwound');
    assert.ok(performance.now() - started < 10_000, 'it ended promptly');
    // The pool still works afterwards.
    assert.equal(await runInWorker(fixture, 'withProgress', [1, workerCallback(() => 'ok')]), ['ok']);
  });
});

test('Cancelled from a worker is the triode class', async () => {
  await run(async () => {
    const error = await rejection(
      (async () => {
        let caught: unknown;
        await moveOnAfter(20, async () => {
          try { await runInWorker(fixture, 'loopWithCheckpoint'); } catch (e) { caught = e; throw e; }
        });
        throw caught;
      })(),
    );
    assert.instance(error, Cancelled);
  });
});

test('dumpTaskTree shows each worker call under its caller: running on which thread, or queued', async () => {
  await openWorkerPoolRun({ maxThreads: 1 }, async (pool) => {
    const started = new Int32Array(new SharedArrayBuffer(4));
    await openNursery(async (n) => {
      n.startSoon(async function caller() {
        await runInWorker(fixture, 'markStarted', [started, 300], { pool });
      });
      n.startSoon(async function waiter() {
        await runInWorker(fixture, 'add', [1, 2], { pool });
      });
      while (Atomics.load(started, 0) === 0) await sleep(1);
      const tree = dumpTaskTree();
      assert.match(tree, /task caller#\d+: blocked in runInWorker\(markStarted\) \(running on worker thread \d+\)/, tree);
      assert.match(tree, /task waiter#\d+: blocked in runInWorker\(add\) \(queued\)/, tree);
    });
  });
});

test.run();
