import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BrokenResourceError,
  Cancelled,
  ClosedResourceError,
  ExceptionGroup,
  KeyboardInterrupt,
  TooSlowError,
} from 'triode';
import { createRequire } from 'node:module';
import { openNursery, run, sleepForever } from 'triode';
import { cancelledError, rejection } from '../helpers.js';

test('ExceptionGroup is an AggregateError whose exceptions are its errors', () => {
  const a = new TypeError('a');
  const g = new ExceptionGroup('two', [a, new RangeError('b')]);
  assert.instance(g, AggregateError);
  assert.instance(g, Error);
  assert.is(g.exceptions, g.errors);
  assert.is(g.errors[0], a);
  assert.is(g.name, 'ExceptionGroup');
  assert.is(g.message, 'two');
});

test('ExceptionGroup rejects an empty or non-array list', () => {
  assert.throws(() => new ExceptionGroup('none', []), /must not be empty/);
  assert.throws(() => new ExceptionGroup('bad', 'x' as unknown as unknown[]), /must be an array/);
});

test('split by class keeps the nesting and returns undefined for an empty side', async () => {
  const c1 = await cancelledError();
  const t = new TypeError('t');
  const inner = new ExceptionGroup('inner', [await cancelledError(), new RangeError('r')]);
  const g = new ExceptionGroup('outer', [c1, t, inner]);
  const [match, rest] = g.split(Cancelled);
  assert.ok(match && rest);
  assert.is(match!.errors.length, 2);
  assert.is(match!.errors[0], c1);
  assert.instance(match!.errors[1], ExceptionGroup);
  assert.is((match!.errors[1] as ExceptionGroup).message, 'inner');
  assert.is((match!.errors[1] as ExceptionGroup).errors.length, 1);
  assert.is(rest!.errors[0], t);
  assert.instance((rest!.errors[1] as ExceptionGroup).errors[0], RangeError);
  const [none, all] = g.split(ClosedResourceError);
  assert.is(none, undefined);
  assert.is(all, g);
  const [everything, nothing] = new ExceptionGroup('c', [await cancelledError()]).split(Cancelled);
  assert.ok(everything);
  assert.is(nothing, undefined);
});

test('split and subgroup accept a predicate', () => {
  const g = new ExceptionGroup('g', [new Error('keep'), new Error('drop')]);
  const sub = g.subgroup((e) => e instanceof Error && e.message === 'keep');
  assert.is(sub!.errors.length, 1);
  assert.is((sub!.errors[0] as Error).message, 'keep');
  assert.is(g.subgroup(TooSlowError), undefined);
});

test('error classes carry their names and reasons', async () => {
  assert.is(new BrokenResourceError('x').name, 'BrokenResourceError');
  assert.is((await cancelledError('because')).reason, 'because');
  assert.match((await cancelledError('because')).message, /because/);
  assert.match(new KeyboardInterrupt().message, /SIGINT/);
});

test('Cancelled cannot be forged by user code (only triode raises it)', () => {
  assert.throws(() => new (Cancelled as unknown as new (reason?: string) => Error)('forged'), /cannot be constructed/);
  class Mine extends (Cancelled as unknown as new () => Error) {}
  assert.throws(() => new Mine(), /cannot be constructed/);
});

test('an error from another copy of triode (its other build) passes instanceof', async () => {
  const require = createRequire(import.meta.url);
  const cjs = require('triode') as typeof import('triode');
  assert.is.not(cjs.TooSlowError, TooSlowError, 'the CJS build has its own classes');
  const fromCjs = new cjs.TooSlowError('slow');
  assert.instance(fromCjs, TooSlowError);
  assert.ok(!(fromCjs instanceof ClosedResourceError));
  assert.instance(new cjs.BrokenWorkerError('w'), Error);
  assert.ok(new cjs.ExceptionGroup('g', [fromCjs]) instanceof ExceptionGroup);
  const group = new ExceptionGroup('g', [fromCjs, new RangeError('r')]);
  assert.is(group.split(TooSlowError)[0]!.errors[0], fromCjs);
  // A user's class named like triode's is not branded.
  class TooSlow2 extends Error { override name = 'TooSlowError'; }
  assert.ok(!(new TooSlow2() instanceof TooSlowError));
  // A user's subclass of a triode class matches only through its real chain.
  class MySlow extends TooSlowError {}
  assert.ok(!(fromCjs instanceof MySlow));
  assert.instance(new MySlow(), TooSlowError);
});

test('a nursery group and the parts split from it count their own errors', async () => {
  const error = await rejection(run(() => openNursery(async (nursery) => {
    nursery.startSoon(async () => { throw new TypeError('boom'); });
    nursery.startSoon(async () => { await sleepForever(); });
    await sleepForever();
  }))) as ExceptionGroup;
  // The siblings' Cancelleds were absorbed: one error, and the message says so.
  assert.is(error.exceptions.length, 1);
  assert.is(error.message, 'a task in the nursery failed');
  const g = await rejection(run(() => openNursery(async (nursery) => {
    nursery.startSoon(async () => { throw new TypeError('a'); });
    nursery.startSoon(async () => { throw new RangeError('b'); });
  }))) as ExceptionGroup;
  assert.is(g.message, '2 errors in the nursery');
  const [typeErrors] = g.split(TypeError);
  assert.is(typeErrors!.message, 'a task in the nursery failed');
  assert.match(typeErrors!.stack!, /^ExceptionGroup: a task in the nursery failed/);
});

test.run();
