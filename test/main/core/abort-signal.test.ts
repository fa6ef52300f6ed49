import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as delay } from 'node:timers/promises';
import { Cancelled, CancelScope, abandonOnCancel, currentAbortSignal, moveOnAfter, openNursery, run, sleep } from 'triode';
import { mock, rejection } from '../../helpers.js';

test('currentAbortSignal aborts with Cancelled when the scope is cancelled', mock(async () => {
  const scope = new CancelScope();
  let signal: AbortSignal | undefined;
  await scope.run(async () => {
    signal = currentAbortSignal();
    assert.not.ok(signal.aborted);
    scope.cancel('stop');
    assert.ok(signal.aborted);
    assert.instance(signal.reason, Cancelled);
    assert.is((signal.reason as Cancelled).reason, 'stop');
  });
  const outerSignal = currentAbortSignal();
  assert.not.ok(outerSignal.aborted);
  const cancelled = new CancelScope();
  await cancelled.run(async () => {
    cancelled.cancel();
    assert.ok(currentAbortSignal().aborted, 'asking inside a cancelled scope gives an aborted signal');
  });
}));

test('a foreign timer given currentAbortSignal is cut short by a timeout (real time, 10x slack)', async () => {
  const t0 = performance.now();
  await run(async () => {
    const result = await moveOnAfter(20, async () => {
      await delay(10_000, undefined, { signal: currentAbortSignal() });
      return 'slept';
    });
    assert.is(result, undefined);
  });
  assert.ok(performance.now() - t0 < 200);
});

test('abandonOnCancel returns the promise value, or its error', mock(async () => {
  assert.is(await abandonOnCancel(Promise.resolve(5)), 5);
  const boom = new Error('boom');
  assert.is(await rejection(abandonOnCancel(Promise.reject(boom))), boom);
  assert.instance(await rejection(abandonOnCancel(5 as unknown as Promise<number>)), TypeError);
}));

test('abandonOnCancel raises Cancelled at once and ignores the promise later (the cancelled twin)', mock(async () => {
  let rejectLater!: (e: Error) => void;
  const never = new Promise<number>((_, reject) => { rejectLater = reject; });
  const result = await moveOnAfter(10, () => abandonOnCancel(never));
  assert.is(result, undefined);
  rejectLater(new Error('late failure is ignored, not unhandled'));
  await sleep(1);
}));

test('a blocked abandonOnCancel lets other tasks run', mock(async () => {
  let resolve!: (v: string) => void;
  const p = new Promise<string>((r) => { resolve = r; });
  await openNursery(async (n) => {
    n.startSoon(async () => { await sleep(5); resolve('from sibling'); });
    assert.is(await abandonOnCancel(p), 'from sibling');
  });
}));

test.run();
