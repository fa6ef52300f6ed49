// Nested calls: worker calls made inside worker calls (parallel compute nurseries).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BrokenWorkerError, CancelScope, dumpTaskTree, failAfter, moveOnAfter, openNursery, run, runInWorker, sleep, WorkerPool } from 'triode';
import { rejection } from '../../helpers.js';

const nested = new URL('../../fixtures/nested-module.js', import.meta.url);

function withPool<T>(maxThreads: number, fn: (pool: WorkerPool) => Promise<T>): Promise<T> {
  return run(async () => {
    const pool = new WorkerPool({ maxThreads });
    try {
      return await failAfter(60_000, () => fn(pool));
    } finally {
      await pool.close();
    }
  });
}

test('a chain of nested calls 4 deep on one thread: the waiting calls do not block the thread', async () => {
  await withPool(1, async (pool) => {
    assert.is(await runInWorker(nested, 'depth', [4], { pool }), '4>3>2>1>bottom');
  });
});

test('a fork-join tree of 64 leaves through nested calls, on 1 and on 2 threads', async () => {
  for (const threads of [1, 2]) {
    await withPool(threads, async (pool) => {
      assert.is(await runInWorker(nested, 'leaves', [6], { pool }), 64);
    });
  }
});

test("a child's error cancels its siblings and reaches the root caller with its class and message", async () => {
  await withPool(2, async (pool) => {
    const cancelled = new Int32Array(new SharedArrayBuffer(4));
    const error = await rejection(runInWorker(nested, 'failingPair', [20, cancelled], { pool }));
    const inner = (error as AggregateError).errors?.[0] ?? error;
    assert.instance(inner, RangeError);
    assert.match((inner as Error).message, /failed after 20 ms/);
    assert.is(Atomics.load(cancelled, 0), 1, 'the sibling was cancelled');
  });
});

test('cancelling the root call cancels the whole tree, on every thread; the pool is idle after', async () => {
  await withPool(2, async (pool) => {
    const cancelled = new Int32Array(new SharedArrayBuffer(4));
    const started = new Int32Array(new SharedArrayBuffer(4));
    const result = await moveOnAfter(300, async () => {
      await runInWorker(nested, 'waitingTree', [6, cancelled, started], { pool });
    });
    assert.is(result, undefined);
    assert.is(Atomics.load(started, 0), 6);
    assert.is(Atomics.load(cancelled, 0), 6, 'every nested call saw its cancellation');
    for (let i = 0; i < 100 && pool.statistics().runningCalls > 0; i++) await sleep(10);
    assert.is(pool.statistics().runningCalls, 0);
  });
});

test('dumpTaskTree shows the nested calls of a call under it: running on which thread, or queued', async () => {
  await withPool(2, async (pool) => {
    const cancelled = new Int32Array(new SharedArrayBuffer(4));
    const started = new Int32Array(new SharedArrayBuffer(4));
    let tree = '';
    const scope = new CancelScope();
    await scope.run(async () => {
      await openNursery(async (nursery) => {
        nursery.startSoon(async function root() {
          await runInWorker(nested, 'waitingTree', [3, cancelled, started], { pool });
        });
        while (Atomics.load(started, 0) < 3) await sleep(1);
        // The three nested calls are async: each thread takes them while its calls wait.
        for (let i = 0; i < 200 && !/nested: \[(running on worker thread \d+, ){2}running on worker thread \d+\]/.test(tree); i++) {
          await sleep(5);
          tree = dumpTaskTree();
        }
        scope.cancel();
      });
    });
    assert.match(tree, /task root#\d+: blocked in runInWorker\(waitingTree\) \(running on worker thread \d+; nested: \[(running on worker thread \d+, ){2}running on worker thread \d+\]\)/, tree);
    assert.is(Atomics.load(cancelled, 0), 3);
  });
});

test('nested calls with shared memory go by message; a limiter works on a pool thread too', async () => {
  await withPool(2, async (pool) => {
    const shared = new Float64Array(new SharedArrayBuffer(8 * 1000)).map((_, i) => i);
    assert.is(await runInWorker(nested, 'sharedSum', [shared], { pool }), (999 * 1000) / 2);
    assert.is(await runInWorker(nested, 'limited', [10], { pool }), 10);
  });
});

test('mapInWorkers and shared channels inside a worker call', async () => {
  await withPool(2, async (pool) => {
    assert.is(await runInWorker(nested, 'nestedMap', [100], { pool }), Array.from({ length: 100 }, (_, i) => i * i).reduce((a, b) => a + b));
    assert.is(await runInWorker(nested, 'channelInside', [50], { pool }), (49 * 50) / 2);
  });
});

test('a thread that dies in a nested call: the call fails with BrokenWorkerError (in its caller, or with it), never hangs; the pool serves on', async () => {
  await withPool(2, async (pool) => {
    for (let i = 0; i < 5; i++) {
      // The nested call runs on the other thread (its caller sees the error) or on the caller's
      // own thread (both die, and the first call fails): either way, an answer.
      const outcome = await runInWorker(nested, 'nestedDies', [], { pool }).catch((error: unknown) => error);
      if (typeof outcome === 'string') assert.match(outcome, /^BrokenWorkerError: .*died/);
      else assert.instance(outcome, BrokenWorkerError);
    }
    assert.is(await runInWorker(nested, 'square', [7], { pool }), 49);
  });
});

test('a thread that dies with nested calls in flight: its call fails, the nested calls it made are cancelled', async () => {
  await withPool(2, async (pool) => {
    const cancelled = new Int32Array(new SharedArrayBuffer(4));
    const threads = new Int32Array(new SharedArrayBuffer(8));
    const error = await rejection(runInWorker(nested, 'dieWithNestedInFlight', [cancelled, threads], { pool }));
    assert.instance(error, BrokenWorkerError);
    if (Atomics.load(threads, 1) !== Atomics.load(threads, 0)) {
      // On the other thread: cancelled, because nobody waits for it any more.
      for (let i = 0; i < 200 && Atomics.load(cancelled, 0) === 0; i++) await sleep(10);
      assert.is(Atomics.load(cancelled, 0), 1, 'the orphaned nested call saw its cancellation');
    }
    for (let i = 0; i < 200 && pool.statistics().runningCalls > 0; i++) await sleep(10);
    assert.is(await runInWorker(nested, 'square', [8], { pool }), 64);
  });
});

test('property: a nested tree cancelled at a random moment accounts for every call: skipped, finished or cancelled; none twice, none lost', async () => {
  const nodes = 32; // nodes 1..31: a binary tree 5 levels deep
  await withPool(2, async (pool) => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 10 }), async (cancelAfter, leafMs) => {
        const ledger = new Int32Array(new SharedArrayBuffer(4 * nodes));
        await moveOnAfter(cancelAfter, () => runInWorker(nested, 'treeNode', [1, nodes, leafMs, ledger], { pool }));
        // Whatever is still settling after the caller returned (nothing should be) is given time.
        for (let i = 0; i < 200 && pool.statistics().runningCalls > 0; i++) await sleep(5);
        assert.is(Atomics.load(ledger, 0), 0, 'no call ran twice');
        for (let node = 1; node < nodes; node++) {
          const state = Atomics.load(ledger, node);
          assert.ok(state === 0 || state === 2 || state === 3, `call ${node} is accounted for (state ${state})`);
          const parent = node >> 1;
          if (node > 1 && state !== 0) assert.not.equal(Atomics.load(ledger, parent), 0, `call ${node} ran, so its parent did`);
        }
        if (Atomics.load(ledger, 1) === 2) {
          for (let node = 1; node < nodes; node++) assert.is(Atomics.load(ledger, node), 2, 'a finished root means every call finished');
        }
      }),
      { numRuns: 25 },
    );
  });
});

test.run();
