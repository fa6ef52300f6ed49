import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BrokenResourceError, Cancelled, CancelScope, checkpoint, dumpTaskTree, lowlevel, moveOnAfter, openNursery, sleep, sleepForever } from 'triode';
import { waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

const { Abort, ParkingLot, reschedule, waitTaskRescheduled } = lowlevel;

test('waitTaskRescheduled resolves with the rescheduled value or rejects with the error', mock(async () => {
  await openNursery(async (n) => {
    let task: lowlevel.Task | undefined;
    n.startSoon(async () => {
      task = lowlevel.currentTask();
      assert.is(await waitTaskRescheduled(() => Abort.SUCCEEDED), 'hello');
      const error = await rejection(waitTaskRescheduled(() => Abort.SUCCEEDED));
      assert.match((error as Error).message, /bad news/);
    });
    await waitAllTasksBlocked();
    reschedule(task!, { value: 'hello' });
    await waitAllTasksBlocked();
    reschedule(task!, { error: new Error('bad news') });
  });
}));

test('abort SUCCEEDED raises Cancelled; abort FAILED keeps the task blocked until rescheduled', mock(async () => {
  const scope = new CancelScope();
  let aborts = 0;
  let task: lowlevel.Task | undefined;
  await openNursery(async (n) => {
    n.startSoon(async () => {
      await scope.run(async () => {
        task = lowlevel.currentTask();
        const v = await waitTaskRescheduled(() => { aborts++; return Abort.FAILED; });
        assert.is(v, 'finished anyway');
        await sleep(1); // still cancelled: level-triggered
      });
    });
    await waitAllTasksBlocked();
    scope.cancel();
    await waitAllTasksBlocked();
    assert.is(aborts, 1);
    reschedule(task!, { value: 'finished anyway' });
  });
  assert.ok(scope.cancelledCaught);
  const s2 = new CancelScope();
  await s2.run(async () => {
    s2.cancel();
    assert.instance(await rejection(waitTaskRescheduled(() => Abort.SUCCEEDED)), Cancelled);
    await checkpoint();
  });
}));

test('reschedule of a task that is not blocked throws', mock(async () => {
  assert.throws(() => reschedule(lowlevel.currentTask()), /not blocked/);
}));

test('ParkingLot unparks FIFO, counts, reparks and breaks', mock(async () => {
  const lot = new ParkingLot();
  const other = new ParkingLot();
  const order: number[] = [];
  await openNursery(async (n) => {
    for (let i = 0; i < 4; i++) {
      n.startSoon(async () => { await lot.park(); order.push(i); });
      await waitAllTasksBlocked();
    }
    assert.is(lot.statistics().tasksWaiting, 4);
    assert.is(lot.unpark().length, 1);
    lot.repark(other, 2);
    assert.is(other.statistics().tasksWaiting, 2);
    lot.unparkAll();
    await waitAllTasksBlocked();
    other.unparkAll();
  });
  assert.equal(order, [0, 3, 1, 2]);
  assert.throws(() => lot.unpark(-1), (e: Error) => e instanceof RangeError);
  await openNursery(async (n) => {
    const broken = new ParkingLot();
    n.startSoon(async () => { assert.instance(await rejection(broken.park()), BrokenResourceError); });
    await waitAllTasksBlocked();
    broken.breakLot();
    assert.instance(await rejection(broken.park()), BrokenResourceError);
  });
}));

test('a cancelled park leaves the lot (the cancelled twin)', mock(async () => {
  const lot = new ParkingLot();
  await moveOnAfter(5, () => lot.park());
  assert.is(lot.statistics().tasksWaiting, 0);
  assert.equal(lot.unpark(), []);
}));

test('dumpTaskTree shows tasks, what they wait in, nurseries and scopes', mock(async () => {
  await openNursery(async (n) => {
    n.startSoon(async function sleeper() { await moveOnAfter(500, () => sleepForever()); });
    await waitAllTasksBlocked();
    const tree = dumpTaskTree();
    assert.match(tree, /task main#\d+: running/);
    assert.match(tree, /task sleeper#\d+: blocked in sleepForever/);
    assert.match(tree, /scope: moveOnAfter\(500\), deadline in 500 ms/);
    assert.match(tree, /nursery \(nursery\): 1 task\(s\)/);
    n.cancelScope.cancel();
  });
}));

test.run();
