import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ExceptionGroup,
  TriodeInternalError,
  checkpoint,
  currentTime,
  lowlevel,
  openNursery,
  run,
  sleep,
  sleepForever,
  type Instrument,
} from 'triode';
import { MockClock } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

test('run resolves with the main function value and rejects with its error', async () => {
  assert.is(await run(async () => 42), 42);
  assert.is(await run(() => 'sync'), 'sync');
  const boom = new RangeError('boom');
  assert.is(await rejection(run(async () => { await checkpoint(); throw boom; })), boom);
});

test('run rejects a non-function with a TypeError naming fn', async () => {
  const error = await rejection(run(42 as unknown as () => number));
  assert.instance(error, TypeError);
  assert.match((error as Error).message, /fn must be a function/);
});

test('a run nested in a run rejects with an Error that says so', async () => {
  const error = await run(async () => rejection(run(async () => 1)));
  assert.instance(error, Error);
  assert.match((error as Error).message, /inside a running triode\.run/);
});

test('triode calls outside a run throw an Error that says "outside of triode.run"', async () => {
  assert.match(((await rejection(checkpoint())) as Error).message, /outside of triode\.run/);
  assert.match(((await rejection(sleep(1))) as Error).message, /outside of triode\.run/);
  assert.throws(() => currentTime(), /outside of triode\.run/);
  assert.throws(() => lowlevel.currentTask(), /outside of triode\.run/);
});

test('after run settles no handle of triode is left', async () => {
  const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
  const listeners = process.listenerCount('SIGINT');
  await run(async () => {
    await openNursery(async (n) => {
      n.startSoon(sleep, 5);
      n.startSoon(async () => { await sleep(60_000).catch(() => {}); });
      await sleep(1);
      n.cancelScope.cancel();
    });
  });
  assert.is(process.listenerCount('SIGINT'), listeners);
  await new Promise((r) => setImmediate(r));
  const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
  assert.is(after, before);
});

test('the main task and the root task are named and distinct', mock(async () => {
  const main = lowlevel.currentTask();
  const root = lowlevel.currentRootTask();
  assert.is.not(main, root);
  assert.ok(main.parentNursery);
  assert.is(main.parentNursery!.parentTask, root);
  await openNursery(async (n) => {
    n.startSoon(async function worker() {
      assert.is(lowlevel.currentTask().name, 'worker');
      assert.is(lowlevel.currentTask().parentNursery, n);
    });
  });
}));

test('system tasks run outside the main task and are cancelled when it finishes', async () => {
  const log: string[] = [];
  await run(async () => {
    lowlevel.spawnSystemTask(async function background() {
      try {
        await sleepForever();
      } finally {
        log.push('system task cancelled');
      }
    });
    await sleep(1);
    log.push('main done');
  });
  assert.equal(log, ['main done', 'system task cancelled']);
});

test('an error in a system task crashes the run with TriodeInternalError', async () => {
  const boom = new Error('boom');
  const error = await rejection(run(async () => {
    lowlevel.spawnSystemTask(async () => { await checkpoint(); throw boom; });
    await sleepForever();
  }));
  assert.instance(error, TriodeInternalError);
  assert.is((error as Error).cause, boom);
});

test('instruments see the run, spawns, schedules and exits; a throwing one is removed', async () => {
  const events: string[] = [];
  const watcher: Instrument = {
    beforeRun: () => events.push('beforeRun'),
    afterRun: () => events.push('afterRun'),
    taskSpawned: (t) => events.push(`spawned ${t.name}`),
    taskScheduled: (t) => events.push(`scheduled ${t.name}`),
    taskExited: (t) => events.push(`exited ${t.name}`),
  };
  let calls = 0;
  const faulty: Instrument = { taskSpawned: () => { calls++; throw new Error('instrument bug'); } };
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  await run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async function child() { await sleep(1); });
      n.startSoon(async function other() {});
    });
  }, { instruments: [watcher, faulty], clock: new MockClock({ autojumpThreshold: 0 }) });
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.is(events[0], 'beforeRun');
  assert.is(events[events.length - 1], 'afterRun');
  assert.ok(events.includes('spawned child'));
  assert.ok(events.includes('scheduled child'));
  assert.ok(events.includes('exited child'));
  assert.ok(events.includes('exited other'));
  assert.is(calls, 1);
  assert.ok(warnings.some((m) => /instrument hook taskSpawned threw/.test(m)));
});

test('addInstrument and removeInstrument work during a run', mock(async () => {
  const seen: string[] = [];
  const inst: Instrument = { taskSpawned: (t) => seen.push(t.name) };
  lowlevel.addInstrument(inst);
  await openNursery(async (n) => n.startSoon(async function a() {}));
  lowlevel.removeInstrument(inst);
  await openNursery(async (n) => n.startSoon(async function b() {}));
  assert.equal(seen, ['a']);
  assert.throws(() => lowlevel.removeInstrument(inst), /not installed/);
}));

test('currentStatistics counts living and runnable tasks and the next deadline', mock(async () => {
  await openNursery(async (n) => {
    n.startSoon(sleep, 500);
    n.startSoon(sleep, 700);
    await sleep(0);
    await sleep(0);
    const stats = lowlevel.currentStatistics();
    assert.is(stats.tasksLiving, 4); // root, main, two sleepers
    assert.is(stats.tasksRunnable, 1); // main
    assert.is(stats.msToNextDeadline, 500);
  });
}));

test('a group error escapes run unchanged', async () => {
  const error = await rejection(run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async () => { throw new TypeError('child'); });
    });
  }));
  assert.instance(error, ExceptionGroup);
  assert.instance((error as ExceptionGroup).errors[0], TypeError);
});

test.run();
