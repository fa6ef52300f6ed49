import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cancelled, CancelScope, checkpoint, checkpointIfCancelled, moveOnAfter, run, sleep } from 'triode';
import { assertCheckpoints, assertNoCheckpoints } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

test('checkpoint raises Cancelled in a cancelled scope and returns otherwise', mock(async () => {
  await checkpoint();
  const scope = new CancelScope();
  await scope.run(async () => {
    scope.cancel();
    assert.instance(await rejection(checkpoint()), Cancelled);
    assert.instance(await rejection(checkpointIfCancelled()), Cancelled);
  });
}));

test('checkpoint lets other tasks run', mock(async () => {
  const { openNursery } = await import('triode');
  const log: string[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => { log.push('child'); });
    await checkpoint();
    await checkpoint();
    log.push('parent');
  });
  assert.equal(log, ['child', 'parent']);
}));

test('assertCheckpoints passes for checkpoints and fails for code without one', mock(async () => {
  await assertCheckpoints(() => checkpoint());
  await assertCheckpoints(() => sleep(1));
  const error = await rejection(assertCheckpoints(async () => 1));
  assert.match((error as Error).message, /expected a checkpoint/);
  await assertNoCheckpoints(async () => 1);
  assert.match(((await rejection(assertNoCheckpoints(() => checkpoint()))) as Error).message, /expected no checkpoint/);
  // checkpointIfCancelled is a cancel point but not a schedule point
  assert.match(((await rejection(assertCheckpoints(() => checkpointIfCancelled()))) as Error).message, /expected a checkpoint/);
}));

test('a CPU loop that checkpoints is cancelled by a real-time deadline (10x slack)', async () => {
  const t0 = performance.now();
  let iterations = 0;
  await run(async () => {
    await moveOnAfter(20, async () => {
      for (;;) {
        iterations++;
        await checkpoint();
      }
    });
  });
  const elapsed = performance.now() - t0;
  assert.ok(iterations > 0);
  assert.ok(elapsed < 200, `a 20 ms deadline cancelled the loop after ${elapsed} ms`);
});

test('a loop of operations cancelled on entry still lets the event loop run', async () => {
  await run(async () => {
    let fired = false;
    setTimeout(() => { fired = true; }, 0);
    let i = 0;
    for (; i < 100_000 && !fired; i++) await moveOnAfter(0, () => checkpoint());
    assert.ok(fired, `the timer never fired during ${i} cancelled operations`);
  });
});

test.run();
