/**
 * Trio's `_tests/test_timeouts.py` and `_core/_tests/test_mock_clock.py`, translated case by
 * case (names kept). Seconds become milliseconds. Trio's `@slow` real-time tests run here on a
 * MockClock (virtual time gives the same answer without a real-time window).
 *
 * Not carried over, and why:
 * - the `check_takes_about` timing tolerance: on virtual time the times are exact.
 * - test_fail_access_before_entering: an xfail in Trio itself (not implemented there).
 * - test_initialization_doesnt_mutate_runner, test_mock_clock_autojump_interference: Trio's
 *   global runner state; a triode MockClock is attached to its run only.
 * - test_mock_clock's `_real_clock` patching: the real-rate part is tested with `rate` and a
 *   generous real-time bound instead.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Cancelled,
  CancelScope,
  checkpoint,
  currentTime,
  failAfter,
  failAt,
  lowlevel,
  moveOnAfter,
  moveOnAt,
  openNursery,
  run,
  sleep,
  sleepForever,
  sleepUntil,
  TooSlowError,
} from 'triode';
import { assertCheckpoints, MockClock, waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../helpers.js';

const TARGET = 1000;

test('test_sleep', mock(async () => {
  let t0 = currentTime();
  await sleepUntil(currentTime() + TARGET);
  assert.is(currentTime() - t0, TARGET);
  t0 = currentTime();
  await sleep(TARGET);
  assert.is(currentTime() - t0, TARGET);
  await assertCheckpoints(() => sleep(0));
  await moveOnAt(currentTime(), async () => {
    assert.instance(await rejection(sleep(0)), Cancelled);
  });
}));

test('test_move_on_after', mock(async () => {
  const t0 = currentTime();
  await moveOnAfter(TARGET, () => sleep(100 * TARGET));
  assert.is(currentTime() - t0, TARGET);
}));

test('test_cannot_wake_sleep_forever', mock(async () => {
  const task = lowlevel.currentTask();
  await openNursery(async (n) => {
    n.startSoon(async () => {
      await checkpoint();
      lowlevel.reschedule(task, { value: undefined });
    });
    const error = await rejection(sleepForever());
    assert.instance(error, Error);
    assert.not.instance(error, Cancelled);
  });
}));

for (const [name, scope] of [['moveOnAfter', moveOnAfter], ['failAfter', failAfter]] as const) {
  test(`test_context_shields_from_outer (${name})`, mock(async () => {
    const outer = new CancelScope();
    await outer.run(() =>
      scope(TARGET, async (inner) => {
        outer.cancel();
        await checkpoint(); // the shield holds
        inner.shield = false;
        assert.instance(await rejection(checkpoint()), Cancelled);
        throw await rejection(checkpoint());
      }, { shield: true }),
    ).catch((error: unknown) => {
      if (!(error instanceof Cancelled)) throw error;
    });
  }));
}

test('test_move_on_after_moves_on_even_if_shielded', mock(async () => {
  const t0 = currentTime();
  const outer = new CancelScope();
  await outer.run(() =>
    moveOnAfter(TARGET, async () => {
      outer.cancel();
      await sleepForever();
    }, { shield: true }),
  );
  assert.is(currentTime() - t0, TARGET);
}));

test('test_fail_after_fails_even_if_shielded', mock(async () => {
  const t0 = currentTime();
  const outer = new CancelScope();
  const error = await rejection(outer.run(() =>
    failAfter(TARGET, async () => {
      outer.cancel();
      await sleepForever();
    }, { shield: true }),
  ));
  assert.instance(error, TooSlowError);
  assert.is(currentTime() - t0, TARGET);
}));

test('test_fail', mock(async () => {
  let t0 = currentTime();
  assert.instance(await rejection(failAt(currentTime() + TARGET, () => sleep(100 * TARGET))), TooSlowError);
  assert.is(currentTime() - t0, TARGET);
  await failAt(currentTime() + 100, () => sleep(0));
  t0 = currentTime();
  assert.instance(await rejection(failAfter(TARGET, () => sleep(100 * TARGET))), TooSlowError);
  assert.is(currentTime() - t0, TARGET);
  await failAfter(100, () => sleep(0));
}));

test('test_timeouts_raise_value_error', mock(async () => {
  for (const [fn, value] of [[sleep, -1], [sleep, NaN], [sleepUntil, NaN]] as const) {
    assert.instance(await rejection(fn(value)), RangeError);
  }
  for (const [fn, value] of [[failAfter, -1], [failAfter, NaN], [failAt, NaN], [moveOnAfter, -1], [moveOnAfter, NaN], [moveOnAt, NaN]] as const) {
    assert.instance(await rejection(fn(value, () => {})), RangeError);
  }
}));

test('test_timeout_deadline_on_entry', mock(async (clock) => {
  const rcs = new CancelScope({ relativeDeadline: 5 });
  assert.is(rcs.relativeDeadline, 5);
  clock.jump(3);
  const start = currentTime();
  await rcs.run(async (cs) => {
    assert.is(cs.deadline, start + 5);
    assert.is(cs.relativeDeadline, 5);
    cs.deadline = start + 3;
    assert.is(cs.deadline, start + 3);
    assert.is(cs.relativeDeadline, 3);
    cs.relativeDeadline = 4;
    assert.is(cs.deadline, start + 4);
    assert.is(cs.relativeDeadline, 4);
  });
  const rcs2 = new CancelScope({ relativeDeadline: 5 });
  assert.is(rcs2.shield, false);
  rcs2.shield = true;
  assert.is(rcs2.shield, true);
  clock.jump(3);
  const start2 = currentTime();
  await rcs2.run(async (cs) => {
    assert.is(cs.deadline, start2 + 5);
    assert.is(rcs2, cs);
  });
}));

test('test_invalid_access_unentered', mock(async () => {
  let cs = new CancelScope({ relativeDeadline: 5 });
  assert.throws(() => cs.deadline, /relativeDeadline/);
  assert.throws(() => { cs.deadline = 7; }, /relativeDeadline/);
  assert.is(cs.relativeDeadline, 5);
  cs = new CancelScope({ deadline: 5 });
  assert.throws(() => cs.relativeDeadline, /absolute deadline/);
  assert.throws(() => { cs.relativeDeadline = 7; }, /absolute deadline/);
}));

// ---- test_mock_clock.py ---------------------------------------------------------------------

test('test_mock_clock', async () => {
  const c = new MockClock();
  assert.is(c.rate, 0);
  assert.is(c.currentTime(), 0);
  c.jump(1.2);
  assert.is(c.currentTime(), 1.2);
  assert.throws(() => c.jump(-1), RangeError);
  assert.is(c.currentTime(), 1.2);
  assert.is(c.deadlineToSleepTime(1.1), 0);
  assert.is(c.deadlineToSleepTime(1.2), 0);
  assert.ok(c.deadlineToSleepTime(1.3) > 999_999);
  assert.throws(() => { c.rate = -1; }, RangeError);
  assert.is(c.rate, 0);
  c.rate = 2;
  const before = c.currentTime();
  assert.ok(Math.abs(before - 1.2) < 50, 'a rate change keeps the current time');
  const realStart = performance.now();
  while (performance.now() - realStart < 5) {
    // let some real time pass
  }
  assert.ok(c.currentTime() >= before + 2 * 5 - 1e-6, 'virtual time runs at twice real time');
  assert.is(c.deadlineToSleepTime(c.currentTime() - 1), 0);
  c.rate = 0.5;
  const now = c.currentTime();
  assert.ok(Math.abs(c.deadlineToSleepTime(now + 1) - 2) < 0.5);
  const c2 = new MockClock({ rate: 3 });
  assert.is(c2.rate, 3);
  assert.ok(c2.currentTime() < 10_000);
});

test('test_mock_clock_autojump', async () => {
  const clock = new MockClock();
  await run(async () => {
    assert.is(clock.autojumpThreshold, Infinity);
    clock.autojumpThreshold = 0;
    assert.is(clock.autojumpThreshold, 0);
    const realStart = performance.now();
    let virtualStart = currentTime();
    for (let i = 0; i < 10; i++) {
      await sleep(10_000 * i);
      assert.is(currentTime(), virtualStart + 10_000 * i);
      virtualStart = currentTime();
    }
    assert.ok(performance.now() - realStart < 1000);
    clock.autojumpThreshold = 20;
    const t = currentTime();
    await waitAllTasksBlocked();
    assert.is(currentTime(), t);
    await waitAllTasksBlocked(10);
    assert.is(currentTime(), t);
    clock.autojumpThreshold = 10_000_000;
    await waitAllTasksBlocked();
    clock.autojumpThreshold = 0;
    await sleep(100_000_000);
  }, { clock });
});

test('test_mock_clock_autojump_preset', async () => {
  const clock = new MockClock({ autojumpThreshold: 100 });
  clock.autojumpThreshold = 10;
  const realStart = performance.now();
  await run(() => sleep(10_000_000), { clock });
  assert.ok(performance.now() - realStart < 1000);
});

test('test_mock_clock_autojump_0_and_wait_all_tasks_blocked_0', async () => {
  const record: string[] = [];
  await run(() =>
    openNursery(async (n) => {
      n.startSoon(async () => {
        await sleep(100);
        record.push('yawn');
      });
      n.startSoon(async () => {
        await waitAllTasksBlocked();
        record.push('waiter woke');
        await sleep(1000);
        record.push('waiter done');
      });
    }), { clock: new MockClock({ autojumpThreshold: 0 }) });
  assert.equal(record, ['waiter woke', 'yawn', 'waiter done']);
});

test('test_mock_clock_autojump_0_and_wait_all_tasks_blocked_nonzero', async () => {
  const record: string[] = [];
  await run(() =>
    openNursery(async (n) => {
      n.startSoon(async () => {
        await sleep(100_000);
        record.push('yawn');
      });
      n.startSoon(async () => {
        await waitAllTasksBlocked(10);
        record.push('waiter done');
      });
    }), { clock: new MockClock({ autojumpThreshold: 0 }) });
  assert.equal(record, ['waiter done', 'yawn']);
});

test.run();
