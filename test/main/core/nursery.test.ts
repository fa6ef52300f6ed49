import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Cancelled,
  CancelScope,
  ExceptionGroup,
  TASK_STATUS_IGNORED,
  checkpoint,
  currentEffectiveDeadline,
  currentTime,
  moveOnAfter,
  openNursery,
  sleep,
  sleepForever,
  type Nursery,
  type TaskStatus,
} from 'triode';
import { waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

test('a nursery waits for all of its children', mock(async () => {
  const done: number[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => { await sleep(20); done.push(2); });
    n.startSoon(async () => { await sleep(10); done.push(1); });
  });
  assert.equal(done, [1, 2]);
  assert.is(currentTime(), 20);
}));

test('startSoon starts the child soon, not during the call', mock(async () => {
  const log: string[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => { log.push('child'); });
    log.push('parent');
  });
  assert.equal(log, ['parent', 'child']);
}));

test('the body value is the nursery value', mock(async () => {
  assert.is(await openNursery(async () => 'value'), 'value');
}));

test('an error in a child cancels its siblings and the body, and comes back in a group', mock(async () => {
  const log: string[] = [];
  const boom = new TypeError('boom');
  const error = await rejection(openNursery(async (n) => {
    n.startSoon(async () => {
      try { await sleepForever(); } finally { log.push('sibling unwound'); }
    });
    n.startSoon(async () => { await sleep(5); throw boom; });
    try { await sleepForever(); } finally { log.push('body unwound'); }
  }));
  assert.instance(error, ExceptionGroup);
  assert.equal((error as ExceptionGroup).errors, [boom]);
  assert.equal(log.sort(), ['body unwound', 'sibling unwound']);
}));

test('errors from several children are all collected; a single one is still a group', mock(async () => {
  const error = await rejection(openNursery(async (n) => {
    n.startSoon(async () => { throw new TypeError('a'); });
    n.startSoon(async () => { throw new RangeError('b'); });
  }));
  const group = error as ExceptionGroup;
  assert.is(group.errors.length, 2);
  assert.ok(group.errors.some((e) => e instanceof TypeError));
  assert.ok(group.errors.some((e) => e instanceof RangeError));
  const single = await rejection(openNursery(async () => { throw new SyntaxError('body'); }));
  assert.instance(single, ExceptionGroup);
  assert.instance((single as ExceptionGroup).errors[0], SyntaxError);
}));

test('cancelling the nursery scope cancels every child and the nursery returns', mock(async () => {
  let unwound = 0;
  const result = await openNursery(async (n) => {
    for (let i = 0; i < 3; i++) {
      n.startSoon(async () => { try { await sleepForever(); } finally { unwound++; } });
    }
    await waitAllTasksBlocked();
    n.cancelScope.cancel();
    return 'body value';
  });
  assert.is(result, 'body value');
  assert.is(unwound, 3);
}));

test('children run under the nursery scopes, not under scopes around startSoon (the foot-gun)', mock(async () => {
  let finished = false;
  const outerDeadline = currentEffectiveDeadline();
  await openNursery(async (n) => {
    await moveOnAfter(10, async () => {
      n.startSoon(async () => {
        assert.is(currentEffectiveDeadline(), outerDeadline);
        await sleep(100);
        finished = true;
      });
    });
  });
  assert.ok(finished, 'the 10 ms timeout around startSoon must not cancel the child');
}));

test('a nursery cancelled from outside still waits for its children to unwind', mock(async () => {
  const log: string[] = [];
  await moveOnAfter(10, () => openNursery(async (n) => {
    n.startSoon(async () => {
      try { await sleepForever(); } finally {
        log.push('child finally');
      }
    });
    await sleepForever();
  }));
  assert.equal(log, ['child finally']);
  assert.is(currentTime(), 10);
}));

test('startSoon rejects a non-function with a TypeError naming fn', mock(async () => {
  await openNursery(async (n) => {
    assert.throws(() => n.startSoon(undefined as unknown as () => void), (e: Error) => e instanceof TypeError && /fn must be a function/.test(e.message));
  });
}));

test('starting into a closed nursery throws', mock(async () => {
  let saved: Nursery | undefined;
  await openNursery(async (n) => { saved = n; });
  assert.throws(() => saved!.startSoon(async () => {}), /closed/);
  assert.match(((await rejection(saved!.start(async (s: TaskStatus) => s.started()))) as Error).message, /closed/);
}));

test('childTasks and parentTask describe the nursery', mock(async () => {
  await openNursery(async (n) => {
    n.startSoon(sleep, 5);
    n.startSoon(sleep, 5);
    assert.is(n.childTasks.length, 2);
    assert.ok(n.parentTask);
    assert.ok(n.cancelScope instanceof CancelScope);
  });
}));

// ---- start() -------------------------------------------------------------------------------

async function server(port: number, taskStatus: TaskStatus<number> = TASK_STATUS_IGNORED): Promise<void> {
  await sleep(5);
  taskStatus.started(port + 1);
  await sleepForever();
}

test('start resolves with the started value and the task keeps running in the nursery', mock(async () => {
  await openNursery(async (n) => {
    const port = await n.start(server, 8000);
    assert.is(port, 8001);
    assert.is(currentTime(), 5);
    assert.is(n.childTasks.length, 1);
    n.cancelScope.cancel();
  });
}));

test('a task meant for start also works with startSoon (TASK_STATUS_IGNORED)', mock(async () => {
  await openNursery(async (n) => {
    n.startSoon(server, 1);
    await sleep(10);
    n.cancelScope.cancel();
  });
}));

test('an error before started() rejects start itself, unwrapped', mock(async () => {
  const boom = new RangeError('early');
  await openNursery(async (n) => {
    const error = await rejection(n.start(async (_s: TaskStatus) => { await sleep(1); throw boom; }));
    assert.is(error, boom);
  });
}));

test('returning without started() rejects start with an Error', mock(async () => {
  await openNursery(async (n) => {
    const error = await rejection(n.start(async function lazy(_s: TaskStatus) { await sleep(1); }));
    assert.match((error as Error).message, /lazy exited without calling taskStatus\.started\(\)/);
  });
}));

test('calling started() twice throws', mock(async () => {
  await openNursery(async (n) => {
    await n.start(async (s: TaskStatus) => {
      s.started();
      assert.throws(() => s.started(), /more than once/);
    });
  });
}));

test('before started() the task runs under the caller scopes, after it under the nursery', mock(async () => {
  const log: string[] = [];
  const testDeadline = currentEffectiveDeadline(); // the test helper's own failAfter
  await openNursery(async (n) => {
    const outer = new CancelScope();
    await outer.run(async () => {
      await n.start(async (s: TaskStatus) => {
        await new CancelScope({ deadline: testDeadline - 1 }).run(async () => {});
        outer.deadline = testDeadline - 2;
        log.push(`before: ${testDeadline - currentEffectiveDeadline()}`);
        s.started();
        log.push(`after: ${testDeadline - currentEffectiveDeadline()}`);
        outer.deadline = Infinity;
        await sleep(10);
        log.push('survived the caller scope cancel');
      });
      outer.cancel();
    });
    // also: a scope opened by the child before started() moves with it
    await moveOnAfter(50, () => n.start(async (s: TaskStatus) => {
      await new CancelScope().run(async () => {
        s.started();
        await sleep(100);
        log.push('inner scope moved to the nursery');
      });
    }));
  });
  assert.equal(log, [
    'before: 2',
    'after: 0',
    'survived the caller scope cancel',
    'inner scope moved to the nursery',
  ]);
}));

test('cancelling the caller of start() before started() cancels the task and start', mock(async () => {
  let cancelledChild = false;
  await openNursery(async (n) => {
    await moveOnAfter(5, () => n.start(async (_s: TaskStatus) => {
      try { await sleepForever(); } catch (e) { cancelledChild = e instanceof Cancelled; throw e; }
    }));
    assert.is(n.childTasks.length, 0);
  });
  assert.ok(cancelledChild);
}));

test('start is a checkpoint', mock(async () => {
  const scope = new CancelScope();
  let ran = false;
  await openNursery(async (n) => {
    await scope.run(async () => {
      scope.cancel();
      await n.start(async (s: TaskStatus) => { await checkpoint(); ran = true; s.started(); });
    });
  });
  assert.ok(scope.cancelledCaught);
  assert.not.ok(ran);
}));

test.run();
