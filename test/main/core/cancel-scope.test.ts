import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Cancelled,
  CancelScope,
  ExceptionGroup,
  checkpoint,
  currentEffectiveDeadline,
  currentTime,
  openNursery,
  sleep,
  sleepForever,
} from 'triode';
import { waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

test('cancel() makes the next checkpoint raise Cancelled, which the scope absorbs', mock(async () => {
  const scope = new CancelScope();
  let after = false;
  const value = await scope.run(async () => {
    scope.cancel();
    await checkpoint();
    after = true;
    return 1;
  });
  assert.is(value, undefined);
  assert.not.ok(after);
  assert.ok(scope.cancelCalled);
  assert.ok(scope.cancelledCaught);
}));

test('a scope that is not cancelled returns the body value and catches nothing', mock(async () => {
  const scope = new CancelScope();
  assert.is(await scope.run(async () => 'v'), 'v');
  assert.not.ok(scope.cancelledCaught);
}));

test('cancel before entry: the body starts cancelled', mock(async () => {
  const scope = new CancelScope();
  scope.cancel('early');
  let reason: string | undefined;
  await scope.run(async () => {
    try { await sleep(10); } catch (e) { reason = (e as Cancelled).reason; throw e; }
  });
  assert.ok(scope.cancelledCaught);
  assert.is(reason, 'early');
  assert.is(currentTime(), 0);
}));

test('cancel after exit changes nothing but cancelCalled', mock(async () => {
  const scope = new CancelScope();
  await scope.run(async () => {});
  scope.cancel();
  assert.ok(scope.cancelCalled);
  assert.not.ok(scope.cancelledCaught);
  await checkpoint(); // the outer code is not affected
}));

test('a scope can be run only once', mock(async () => {
  const scope = new CancelScope();
  await scope.run(async () => {});
  assert.match(((await rejection(scope.run(async () => {}))) as Error).message, /only once/);
}));

test('when nested scopes are cancelled, the outermost one catches', mock(async () => {
  const outer = new CancelScope();
  const inner = new CancelScope();
  let innerExited = false;
  await outer.run(async () => {
    await inner.run(async () => {
      outer.cancel();
      inner.cancel();
      await checkpoint();
    });
    innerExited = true;
  });
  assert.not.ok(innerExited, 'the inner scope must re-raise: the outer cancellation is visible to it');
  assert.ok(outer.cancelledCaught);
  assert.not.ok(inner.cancelledCaught);
}));

test('an inner scope cancelled alone catches; code after it keeps running', mock(async () => {
  const outer = new CancelScope();
  const inner = new CancelScope();
  let after = false;
  await outer.run(async () => {
    await inner.run(async () => { inner.cancel(); await checkpoint(); });
    after = true;
    await checkpoint();
  });
  assert.ok(after);
  assert.ok(inner.cancelledCaught);
  assert.not.ok(outer.cancelledCaught);
}));

test('a shielded scope keeps outside cancellation out; unshielding lets it in at once', mock(async () => {
  const outer = new CancelScope();
  const shielded = new CancelScope({ shield: true });
  const log: string[] = [];
  await outer.run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async () => {
        await shielded.run(async () => {
          await sleep(10);
          log.push('shield held');
          shielded.shield = false;
          await sleep(10);
          log.push('unreachable');
        });
      });
      await sleep(1);
      outer.cancel();
    });
  });
  assert.equal(log, ['shield held']);
  assert.is(currentTime(), 10);
  assert.ok(outer.cancelledCaught);
  assert.not.ok(shielded.cancelledCaught);
}));

test('raising the shield while cancelled stops further Cancelled', mock(async () => {
  const outer = new CancelScope();
  const inner = new CancelScope();
  let reached = false;
  await outer.run(async () => {
    outer.cancel();
    await inner.run(async () => {
      inner.shield = true;
      await sleep(5);
      reached = true;
    });
  });
  assert.ok(reached);
}));

test('a deadline cancels the scope; it can be moved later or earlier after entry', mock(async () => {
  const scope = new CancelScope({ deadline: 100 });
  await scope.run(async () => {
    await sleep(50);
    scope.deadline = 200;
    await sleep(100);
    assert.is(currentTime(), 150);
    scope.deadline = 160;
    await sleep(1000);
  });
  assert.ok(scope.cancelledCaught);
  assert.is(currentTime(), 160);
}));

test('a deadline already in the past cancels at the next checkpoint', mock(async () => {
  const scope = new CancelScope({ deadline: -1 });
  await scope.run(async () => { await checkpoint(); });
  assert.ok(scope.cancelledCaught);
}));

test('relativeDeadline counts from entry and can be changed after entry', mock(async () => {
  const scope = new CancelScope({ relativeDeadline: 30 });
  assert.is(scope.relativeDeadline, 30);
  await sleep(10);
  await scope.run(async () => {
    assert.is(scope.deadline, 40);
    assert.is(scope.relativeDeadline, 30);
    await sleep(5);
    scope.relativeDeadline = 100;
    assert.is(scope.deadline, 115);
    await sleepForever();
  });
  assert.is(currentTime(), 115);
}));

test('deadline and relativeDeadline together, or bad values, throw clear errors', () => {
  assert.throws(() => new CancelScope({ deadline: 1, relativeDeadline: 1 }), /not both/);
  assert.throws(() => new CancelScope({ relativeDeadline: -1 }), (e: Error) => e instanceof RangeError);
  assert.throws(() => new CancelScope({ deadline: NaN }), (e: Error) => e instanceof RangeError);
  assert.throws(() => new CancelScope({ shield: 'yes' as unknown as boolean }), /shield must be a boolean/);
});

test('currentEffectiveDeadline is the earliest unshielded deadline; -Infinity when cancelled', mock(async () => {
  await new CancelScope({ shield: true }).run(async () => {
    assert.is(currentEffectiveDeadline(), Infinity);
  });
  await new CancelScope({ deadline: 50 }).run(async () => {
    await new CancelScope({ deadline: 80 }).run(async () => {
      assert.is(currentEffectiveDeadline(), 50);
    });
    await new CancelScope({ deadline: 80, shield: true }).run(async () => {
      assert.is(currentEffectiveDeadline(), 80);
    });
  });
  const scope = new CancelScope();
  await scope.run(async () => {
    scope.cancel();
    assert.is(currentEffectiveDeadline(), -Infinity);
  });
}));

test('an AbortSignal cancels the scope, also one aborted before entry; the listener is removed', mock(async () => {
  const controller = new AbortController();
  const scope = new CancelScope({ signal: controller.signal });
  await scope.run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async () => { await sleep(5); controller.abort(new Error('user left')); });
      await sleepForever();
    });
  });
  assert.ok(scope.cancelledCaught);
  assert.match(scope.cancelReason!, /user left/);
  const pre = new CancelScope({ signal: AbortSignal.abort() });
  await pre.run(() => checkpoint());
  assert.ok(pre.cancelledCaught);
}));

test('an error in finally during cancellation replaces the Cancelled and propagates', mock(async () => {
  const scope = new CancelScope();
  const cleanup = new Error('cleanup failed');
  const error = await rejection(scope.run(async () => {
    scope.cancel();
    try { await checkpoint(); } finally { throw cleanup; }
  }));
  assert.is(error, cleanup);
  assert.not.ok(scope.cancelledCaught);
}));

test('the scope absorbs Cancelled from a group and re-raises the rest', mock(async () => {
  const scope = new CancelScope();
  const boom = new TypeError('boom');
  const error = await rejection(scope.run(async () => {
    await openNursery(async (n) => {
      n.startSoon(sleepForever);
      n.startSoon(async () => {
        try { await sleepForever(); } finally { throw boom; }
      });
      await waitAllTasksBlocked();
      scope.cancel();
    });
  }));
  assert.instance(error, ExceptionGroup);
  assert.equal((error as ExceptionGroup).errors, [boom]);
  assert.ok(scope.cancelledCaught);
}));

test('Cancelled is level-triggered: every checkpoint raises it again', mock(async () => {
  const scope = new CancelScope();
  let raised = 0;
  await scope.run(async () => {
    scope.cancel();
    for (let i = 0; i < 3; i++) {
      try { await checkpoint(); } catch (e) { if (e instanceof Cancelled) raised++; }
    }
  });
  assert.is(raised, 3);
  assert.not.ok(scope.cancelledCaught, 'the body swallowed every Cancelled');
}));

test('code left running after its scope exited gets a clear error when it blocks', mock(async () => {
  let leaked: Promise<unknown> | undefined;
  await new CancelScope().run(async () => {
    leaked = (async () => { await checkpoint(); await checkpoint(); await checkpoint(); await sleep(1); })();
  });
  const error = await rejection(leaked!);
  assert.match((error as Error).message, /already exited/);
}));

test('a scope that exits while a scope opened inside it still runs gives a clear Error', mock(async () => {
  let inner: Promise<unknown> | undefined;
  const error = await rejection(new CancelScope().run(async () => {
    inner = new CancelScope().run(async () => { await checkpoint(); });
  }));
  assert.match((error as Error).message, /exited while a cancel scope opened inside it was still running/);
  await inner!.catch(() => {});
}));

test('a second concurrent wait in one task throws a clear error', mock(async () => {
  const first = sleep(10);
  const error = await rejection(sleep(10));
  assert.match((error as Error).message, /can wait in only one place/);
  await first;
}));

test.run();
