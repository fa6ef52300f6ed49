import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openNursery, run, runInWorker, TaskLocal, WorkerPool } from 'triode';
import { localOnly, requestId, tenant } from '../../fixtures/locals.js';
import { rejection } from '../../helpers.js';

const module = new URL('../../fixtures/locals-module.js', import.meta.url);

function withPool<T>(fn: (pool: WorkerPool) => Promise<T>): Promise<T> {
  return run(async () => {
    const pool = new WorkerPool({ maxThreads: 1 });
    try {
      return await fn(pool);
    } finally {
      await pool.close();
    }
  });
}

test('cross-thread TaskLocals are carried into sync and async worker calls; unmarked ones are not', async () => {
  await withPool(async (pool) => {
    requestId.set('r-42');
    tenant.set({ name: 'acme' });
    localOnly.set('main only');
    assert.equal(await runInWorker(module, 'readSync', [], { pool }), ['r-42', 'acme', 'unset']);
    const [seenByChild, tenantName, local] = (await runInWorker(module, 'readAsync', [], { pool })) as string[];
    assert.is(seenByChild, 'changed in the worker', "the call's own tasks see its set");
    assert.is(tenantName, 'acme');
    assert.is(local, 'unset', 'a TaskLocal not marked crossThreads stays on its thread');
    assert.is(requestId.get(), 'r-42', 'a set in the worker is not seen by the caller');
  });
});

test('a child task carries its own values; calls without a value see the default', async () => {
  await withPool(async (pool) => {
    const got: string[] = [];
    await openNursery(async (n) => {
      n.startSoon(async () => {
        requestId.set('child');
        got.push(((await runInWorker(module, 'readSync', [], { pool })) as string[])[0]!);
      });
    });
    got.push(((await runInWorker(module, 'readSync', [], { pool })) as string[])[0]!);
    assert.equal(got, ['child', 'none']);
  });
});

test('a value that cannot cross is refused before dispatch, naming the TaskLocal', async () => {
  await withPool(async (pool) => {
    tenant.set({ name: 'x', callback: () => {} } as unknown as { name: string });
    const error = await rejection(runInWorker(module, 'readSync', [], { pool }));
    assert.instance(error, TypeError);
    assert.match((error as Error).message, /TaskLocal "test\.tenant"/);
    assert.is(pool.statistics().completedCalls, 0, 'nothing was dispatched');
  });
});

test('names of cross-thread TaskLocals are unique', () => {
  assert.throws(() => new TaskLocal('test.requestId', { crossThreads: true }), /already exists/);
  new TaskLocal('test.requestId'); // a thread-local one may share the name
});

test.run();
