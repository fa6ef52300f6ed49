import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RunVar, TaskLocal, openNursery, run, sleep } from 'triode';
import { mock } from '../../helpers.js';

test('get: value, else fallback, else default, else an Error', mock(async () => {
  const withDefault = new TaskLocal<string>('d', { default: 'dflt' });
  assert.is(withDefault.get(), 'dflt');
  assert.is(withDefault.get('fallback'), 'fallback');
  withDefault.set('v');
  assert.is(withDefault.get('fallback'), 'v');
  const bare = new TaskLocal<number>('bare');
  assert.throws(() => bare.get(), /"bare" has no value and no default/);
  assert.is(bare.get(3), 3);
  const undefDefault = new TaskLocal<undefined>('u', { default: undefined });
  assert.is(undefDefault.get(), undefined);
}));

test('children inherit values at spawn; their sets stay theirs', mock(async () => {
  const name = new TaskLocal<string>('name');
  name.set('parent');
  const seen: string[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      seen.push(`child sees ${name.get()}`);
      name.set('child');
      await sleep(1);
      seen.push(`child keeps ${name.get()}`);
      await openNursery(async (inner) => {
        inner.startSoon(async () => { seen.push(`grandchild sees ${name.get()}`); });
      });
    });
    n.startSoon(async () => {
      await sleep(2);
      seen.push(`sibling sees ${name.get()}`);
    });
    await sleep(3);
    seen.push(`parent keeps ${name.get()}`);
  });
  assert.equal(seen, [
    'child sees parent',
    'child keeps child',
    'grandchild sees child',
    'sibling sees parent',
    'parent keeps parent',
  ]);
}));

test('a set after spawning is not seen by children already started', mock(async () => {
  const v = new TaskLocal<number>('v', { default: 0 });
  await openNursery(async (n) => {
    n.startSoon(async () => { await sleep(1); assert.is(v.get(), 0); });
    v.set(2);
    n.startSoon(async () => { await sleep(1); assert.is(v.get(), 2); });
  });
}));

test('reset restores the previous value (or none) and a token works once', mock(async () => {
  const v = new TaskLocal<number>('v');
  const t1 = v.set(1);
  const t2 = v.set(2);
  v.reset(t2);
  assert.is(v.get(), 1);
  assert.throws(() => v.reset(t2), /already been used/);
  v.reset(t1);
  assert.throws(() => v.get(), /no value/);
  const other = new TaskLocal<number>('other');
  assert.throws(() => other.reset(other.set(1) && t1), /not created by this variable/);
}));

test('a token cannot reset a value in another task', mock(async () => {
  const v = new TaskLocal<number>('v');
  const token = v.set(1);
  await openNursery(async (n) => {
    n.startSoon(async () => { assert.throws(() => v.reset(token), /another task/); });
  });
}));

test('RunVar holds one value per run, shared by its tasks', async () => {
  const rv = new RunVar<string>('rv', { default: 'none' });
  await run(async () => {
    assert.is(rv.get(), 'none');
    await openNursery(async (n) => { n.startSoon(async () => { rv.set('set by child'); }); });
    assert.is(rv.get(), 'set by child');
  });
  await run(async () => { assert.is(rv.get(), 'none'); });
  assert.throws(() => rv.get(), /outside of triode\.run/);
});

test.run();
