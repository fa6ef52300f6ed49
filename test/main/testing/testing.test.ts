import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelScope, checkpoint, currentTime, moveOnAfter, openNursery, sleep } from 'triode';
import { Sequencer, waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

test('waitAllTasksBlocked wakes only when every other task is blocked', mock(async () => {
  const log: string[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      for (let i = 0; i < 5; i++) await sleep(0);
      log.push('busy child done');
      await sleep(10);
    });
    await waitAllTasksBlocked();
    log.push('all blocked');
  });
  assert.equal(log, ['busy child done', 'all blocked']);
}));

test('waitAllTasksBlocked wins over autojump and is cancellable', mock(async () => {
  await openNursery(async (n) => {
    n.startSoon(sleep, 100);
    await waitAllTasksBlocked();
    assert.is(currentTime(), 0, 'the waiter woke before the clock jumped');
  });
  assert.is(currentTime(), 100);
  // the cancelled twin: a waiter with a cushion far longer than the test is cancelled by a
  // sibling (the clock cannot jump past it: waiters take priority over autojump, as in Trio)
  const before = currentTime();
  const scope = new CancelScope();
  await openNursery(async (n) => {
    n.startSoon(async () => {
      for (let i = 0; i < 3; i++) await checkpoint();
      scope.cancel();
    });
    await scope.run(async () => { await waitAllTasksBlocked(1e9); });
  });
  assert.ok(scope.cancelledCaught);
  assert.is(currentTime(), before);
}));

test('waitAllTasksBlocked with a cushion wakes under autojump when no deadline is left', mock(async () => {
  // Trio's test_wait_all_tasks_blocked_with_cushion under a MockClock that autojumps at 0.
  await openNursery(async (n) => {
    n.startSoon(sleep, 20);
    await waitAllTasksBlocked(5);
    assert.is(currentTime(), 0, 'the waiter woke first, without the clock moving');
  });
  await waitAllTasksBlocked(5);
  assert.is(currentTime(), 20);
}));

test('Sequencer runs blocks in position order and rejects reuse', mock(async () => {
  const seq = new Sequencer();
  const log: number[] = [];
  await openNursery(async (n) => {
    for (const p of [2, 0, 1]) n.startSoon(() => seq.block(p, async () => { await sleep(1); log.push(p); }));
  });
  assert.equal(log, [0, 1, 2]);
  assert.match(((await rejection(seq.block(1, () => {}))) as Error).message, /position 1 was already used/);
}));

test('a cancelled Sequencer wait breaks the sequence', mock(async () => {
  const seq = new Sequencer();
  const error = await rejection(moveOnAfter(5, () => seq.block(1, () => {})));
  assert.match((error as Error).message, /sequence is broken/);
  assert.match(((await rejection(seq.block(0, () => {}))) as Error).message, /broken/);
}));

test.run();
