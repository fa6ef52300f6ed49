import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Cancelled,
  CancelScope,
  TooSlowError,
  currentTime,
  failAfter,
  failAt,
  moveOnAfter,
  moveOnAt,
  openNursery,
  run,
  sleep,
  sleepForever,
  sleepUntil,
} from 'triode';
import { MockClock, waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

test('sleep and sleepUntil advance virtual time exactly', mock(async () => {
  assert.is(currentTime(), 0);
  await sleep(250);
  assert.is(currentTime(), 250);
  await sleepUntil(1000);
  assert.is(currentTime(), 1000);
  await sleepUntil(10); // in the past: a checkpoint only
  assert.is(currentTime(), 1000);
}));

test('sleep rejects negative, NaN and non-number durations', mock(async () => {
  assert.instance(await rejection(sleep(-1)), RangeError);
  assert.instance(await rejection(sleep(NaN)), RangeError);
  assert.instance(await rejection(sleep('5' as unknown as number)), TypeError);
  assert.instance(await rejection(sleepUntil(NaN)), RangeError);
  assert.match(((await rejection(sleep(-1))) as Error).message, /ms must be a non-negative/);
}));

test('a sleeping task wakes at once when cancelled (the cancelled twin)', mock(async () => {
  const scope = new CancelScope();
  await scope.run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async () => { await sleep(10); scope.cancel(); });
      await sleep(1_000_000);
    });
  });
  assert.is(currentTime(), 10);
  assert.ok(scope.cancelledCaught);
}));

test('sleepForever ends only with Cancelled', mock(async () => {
  const error = await rejection(moveOnAfter(5, async () => {
    try { await sleepForever(); } catch (e) { throw new Error('wrapped', { cause: e }); }
  }));
  assert.instance((error as Error).cause, Cancelled);
}));

test('moveOnAfter returns the value in time, undefined when it times out', mock(async () => {
  assert.is(await moveOnAfter(10, async () => { await sleep(5); return 'fast'; }), 'fast');
  let scopeSeen: CancelScope | undefined;
  assert.is(await moveOnAfter(10, async (scope) => { scopeSeen = scope; await sleep(50); return 'slow'; }), undefined);
  assert.ok(scopeSeen!.cancelledCaught);
  assert.is(currentTime(), 15);
  assert.is(await moveOnAt(100, async () => { await sleep(1000); return 1; }), undefined);
  assert.is(currentTime(), 100);
}));

test('failAfter rejects with TooSlowError when the timeout expires, else returns the value', mock(async () => {
  assert.is(await failAfter(10, async () => 7), 7);
  assert.instance(await rejection(failAfter(10, () => sleep(20))), TooSlowError);
  assert.is(currentTime(), 10);
  assert.instance(await rejection(failAt(15, () => sleep(20))), TooSlowError);
  assert.is(currentTime(), 15);
}));

test('failAfter does not raise TooSlowError when an outer scope caused the cancel', mock(async () => {
  const outer = new CancelScope();
  await outer.run(async () => {
    await failAfter(1000, async () => { outer.cancel(); await sleep(5); });
  });
  assert.ok(outer.cancelledCaught);
}));

test('timeouts reject bad arguments with errors naming them', mock(async () => {
  assert.match(((await rejection(moveOnAfter(-5, async () => {}))) as Error).message, /moveOnAfter: ms/);
  assert.instance(await rejection(failAfter(NaN, async () => {})), RangeError);
  assert.instance(await rejection(moveOnAfter(5, 'x' as unknown as () => Promise<void>)), TypeError);
}));

test('a shielded timeout body survives an outer cancel until its own deadline', mock(async () => {
  const outer = new CancelScope();
  let finished = false;
  await outer.run(async () => {
    outer.cancel();
    await moveOnAfter(20, async () => { await sleep(10); finished = true; }, { shield: true });
  });
  assert.ok(finished);
  assert.is(currentTime(), 10);
}));

test('10,000 timeouts that do not fire leave nothing behind and cost no virtual time', mock(async () => {
  for (let i = 0; i < 10_000; i++) await moveOnAfter(1000, async () => i);
  assert.is(currentTime(), 0);
  await sleep(2000); // stale entries for the finished scopes must not fire anything
  assert.is(currentTime(), 2000);
}));

test('MockClock: jump moves time and expires deadlines; rate runs with real time', async () => {
  const clock = new MockClock();
  assert.is(clock.currentTime(), 0);
  clock.jump(5);
  assert.is(clock.currentTime(), 5);
  assert.throws(() => clock.jump(-1), (e: Error) => e instanceof RangeError);
  assert.throws(() => new MockClock({ rate: -1 }), (e: Error) => e instanceof RangeError);
  await run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async () => { await sleep(100); });
      await waitAllTasksBlocked();
      clock.jump(100);
    });
    assert.is(currentTime(), 105);
  }, { clock });
  const fast = new MockClock({ rate: 1000 });
  const t0 = performance.now();
  await run(() => sleep(5000), { clock: fast });
  const realMs = performance.now() - t0;
  assert.ok(realMs < 1000, `5 virtual s at rate 1000 took ${realMs} real ms (expected ~5)`);
  assert.ok(fast.currentTime() >= 5000);
});

test('MockClock autojump can be switched on during a run', async () => {
  const clock = new MockClock();
  await run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async () => { await sleep(1_000_000); });
      await waitAllTasksBlocked();
      clock.autojumpThreshold = 0;
    });
  }, { clock });
  assert.is(clock.currentTime(), 1_000_000);
});

test('a real-clock sleep takes about the time asked (10x slack)', async () => {
  const t0 = performance.now();
  await run(() => sleep(20));
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= 19 && elapsed < 200, `sleep(20) took ${elapsed} ms`);
});

test.run();
