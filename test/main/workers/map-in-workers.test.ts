import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelScope, mapInWorkers, moveOnAfter, openNursery, run, runInWorker } from 'triode';
import { rejection, withPool } from '../../helpers.js';
import { BatchSizer } from '../../../src/main/workers/batch-sizer.js';

const fixture = new URL('../../fixtures/worker-module.js', import.meta.url);

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

async function* slowSource(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    yield i;
  }
}

test('ordered: every result, in source order, from a sync or an async source', async () => {
  await withPool(2, async (pool) => {
    const got: number[] = [];
    for await (const r of mapInWorkers<number, number>(range(5000), fixture, 'square', { pool })) got.push(r);
    assert.equal(got, Array.from({ length: 5000 }, (_, i) => i * i));
    const fromAsync: number[] = [];
    for await (const r of mapInWorkers<number, number>(slowSource(300), fixture, 'slowSquare', { pool, batchSize: 7 })) fromAsync.push(r);
    assert.equal(fromAsync, Array.from({ length: 300 }, (_, i) => i * i));
  });
});

test('numbers travel packed (Float64Array) both ways: -0, NaN, fractions and huge values come back exact; batches mixing numbers with other values, and short ones, unpacked', async () => {
  await withPool(2, async (pool) => {
    const numbers = Array.from({ length: 1000 }, (_, i) => [-0, NaN, Infinity, -Infinity, 2 ** 53 + 2, 1 / 3, -i][i % 7]!);
    const back: number[] = [];
    for await (const r of mapInWorkers<number, number>(numbers, fixture, 'echo', { pool, batchSize: 64 })) back.push(r);
    assert.is(back.length, numbers.length);
    assert.ok(back.every((v, i) => Object.is(v, numbers[i])), 'each number identical, -0 and NaN included');
    // Numbers in, other values out (and the reverse), in batches long enough to pack and too short to.
    const mixed: unknown[] = Array.from({ length: 300 }, (_, i) => (i % 50 === 0 ? `s${i}` : i % 77 === 0 ? null : i));
    for (const batchSize of [5, 64]) {
      const echoed: unknown[] = [];
      for await (const r of mapInWorkers(mixed, fixture, 'echo', { pool, batchSize })) echoed.push(r);
      assert.equal(echoed, mixed, `batchSize ${batchSize}`);
      const strings: unknown[] = [];
      for await (const r of mapInWorkers(range(100), fixture, 'toText', { pool, batchSize })) strings.push(r);
      assert.equal(strings, Array.from({ length: 100 }, (_, i) => `#${i}`));
    }
  });
});

test('batch size by measurement: grows (at most 4× a step, to its cap) for fast items, shrinks to 1 for slow ones, ignores the start-up', () => {
  const fast = new BatchSizer(2, 256);
  assert.is(fast.size, 16, 'before anything is measured');
  fast.delivered(16, 100); // the first results end the start-up: not a measure
  assert.is(fast.size, 16);
  const sizes: number[] = [];
  for (let t = 100, i = 0; i < 6; i++) {
    t += 10;
    fast.delivered(20_000, t); // 2M items/s: 1,000 per loop per ms
    sizes.push(fast.size);
  }
  assert.equal(sizes, [64, 256, 256, 256, 256, 256]);
  const slow = new BatchSizer(2, 256);
  slow.delivered(16, 0);
  const shrinking: number[] = [];
  for (let t = 0, i = 0; i < 4; i++) {
    t += 20;
    slow.delivered(20, t); // 1 item per ms: 0.5 per loop per ms
    shrinking.push(slow.size);
  }
  assert.equal(shrinking, [4, 1, 1, 1]);
  const capped = new BatchSizer(4, 2);
  assert.is(capped.size, 2, 'never above its cap, even at first');
});

test('slow items in measured batches keep both threads busy to the end (200 × 2 ms on 2 threads: ~100 each; batches of 64 would split them 136/64)', async () => {
  await withPool(2, async (pool) => {
    // Both threads up first (a thread starting late would leave the items to the other).
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const met = new Set<number>();
    await openNursery(async (nursery) => {
      for (let i = 0; i < 2; i++) nursery.startSoon(async () => void met.add((await runInWorker(fixture, 'meet', [counter, 2], { pool })) as number));
    });
    assert.is(met.size, 2);
    const byThread = new Map<number, number>();
    for await (const thread of mapInWorkers<number, number>(new Array(200).fill(2), fixture, 'busyOnThread', { pool })) {
      byThread.set(thread, (byThread.get(thread) ?? 0) + 1);
    }
    const counts = [...byThread.values()];
    assert.is(counts.length, 2, 'both threads took items');
    assert.ok(Math.min(...counts) >= 75, `items per thread: ${counts.join(', ')}`);
  });
});

test('unordered: every result exactly once', async () => {
  await withPool(2, async (pool) => {
    const got: number[] = [];
    for await (const r of mapInWorkers<number, number>(range(3000), fixture, 'slowSquare', { pool, ordered: false, batchSize: 5 })) got.push(r);
    assert.equal(got.sort((a, b) => a - b), Array.from({ length: 3000 }, (_, i) => i * i).sort((a, b) => a - b));
  });
});

test('an error in any item ends the map with that error', async () => {
  await withPool(2, async (pool) => {
    const error = (await rejection((async () => {
      for await (const _ of mapInWorkers(range(100), fixture, 'failOn13', { pool })) { /* consume */ }
    })())) as Error;
    assert.instance(error, RangeError);
    assert.is(error.message, '13 is unlucky');
  });
});

test('memory stays bounded: a slow consumer holds back an endless source', async () => {
  await withPool(2, async (pool) => {
    let pulled = 0;
    function* endless(): Generator<number> {
      for (;;) { pulled++; yield pulled; }
    }
    let seen = 0;
    for await (const _ of mapInWorkers(endless(), fixture, 'square', { pool, maxInFlight: 200, batchSize: 10 })) {
      if (++seen === 20) break;
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.ok(pulled <= 20 + 200 + 10, `pulled ${pulled} items from the source for 20 results`);
  });
});

test('break and cancellation stop the workers before the loop exits', async () => {
  await withPool(2, async (pool) => {
    let n = 0;
    for await (const _ of mapInWorkers(range(1e9), fixture, 'square', { pool })) if (++n === 500) break;
    assert.is(pool.statistics().runningCalls, 0, 'no worker job outlives the loop');
    const result = await moveOnAfter(30, async () => {
      for await (const _ of mapInWorkers(range(1e9), fixture, 'square', { pool })) { /* forever */ }
      return 'finished';
    });
    assert.is(result, undefined);
    assert.is(pool.statistics().runningCalls, 0);
  });
});

test('bad arguments are rejected with errors naming them', async () => {
  await run(async () => {
    assert.instance(await rejection(mapInWorkers(42 as never, fixture, 'square').next()), TypeError);
    assert.instance(await rejection(mapInWorkers(range(1), fixture, '').next()), TypeError);
    assert.instance(await rejection(mapInWorkers(range(1), fixture, 'square', { batchSize: 0 }).next()), RangeError);
  });
});

test('batches(): the same results an array at a time, in order; its cancelled twin stops the workers', async () => {
  await withPool(2, async (pool) => {
    const arrays: (readonly number[])[] = [];
    for await (const batch of mapInWorkers<number, number>(range(5000), fixture, 'square', { pool, batchSize: 100 }).batches()) arrays.push(batch);
    assert.ok(arrays.every((batch) => batch.length > 0));
    assert.equal(arrays.flat(), Array.from({ length: 5000 }, (_, i) => i * i));
    const result = await moveOnAfter(30, async () => {
      for await (const _ of mapInWorkers(range(1e9), fixture, 'square', { pool }).batches()) { /* forever */ }
      return 'finished';
    });
    assert.is(result, undefined);
    assert.is(pool.statistics().runningCalls, 0, 'no worker job outlives the loop');
    const started = mapInWorkers(range(10), fixture, 'square', { pool });
    await started.next();
    assert.throws(() => started.batches(), /not iterated yet/);
    await started.return();
  });
});

test('each step is a checkpoint: cancelled between results already delivered, the next step stops the workers and raises Cancelled', async () => {
  await withPool(2, async (pool) => {
    let seen = 0;
    const scope = new CancelScope();
    await scope.run(async () => {
      for await (const _ of mapInWorkers(range(1e9), fixture, 'square', { pool, batchSize: 64 })) {
        if (++seen === 1) scope.cancel();
      }
    });
    assert.ok(scope.cancelledCaught, 'the loop raised Cancelled');
    assert.is(seen, 1, 'no result after the cancellation, though 63 more were already delivered');
    assert.is(pool.statistics().runningCalls, 0, 'the workers were stopped first');
  });
});

test('Symbol.asyncDispose stops a map left part-way', async () => {
  await withPool(2, async (pool) => {
    const map = mapInWorkers<number, number>(range(1e9), fixture, 'square', { pool });
    assert.equal(await map.next(), { value: 0, done: false });
    await map[Symbol.asyncDispose]();
    assert.is(pool.statistics().runningCalls, 0);
    assert.equal(await map.next(), { value: undefined, done: true });
  });
});

test.run();
