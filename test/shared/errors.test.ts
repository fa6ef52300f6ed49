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

test('split by class keeps the nesting and returns undefined for an empty side', () => {
  const c1 = new Cancelled();
  const t = new TypeError('t');
  const inner = new ExceptionGroup('inner', [new Cancelled(), new RangeError('r')]);
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
  const [everything, nothing] = new ExceptionGroup('c', [new Cancelled()]).split(Cancelled);
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

test('error classes carry their names and reasons', () => {
  assert.is(new BrokenResourceError('x').name, 'BrokenResourceError');
  assert.is(new Cancelled('because').reason, 'because');
  assert.match(new Cancelled('because').message, /because/);
  assert.match(new KeyboardInterrupt().message, /SIGINT/);
});

test.run();
