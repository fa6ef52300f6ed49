/**
 * Trio's `_core/_tests/test_run.py`, translated case by case (each test carries its original's
 * name). Seconds become milliseconds, `with CancelScope()` becomes `scope.run`, `async with
 * open_nursery()` becomes `openNursery`, and groups are always strict.
 *
 * Not carried over, and why:
 * - test_run_nesting, test_nursery_warn_use_async_with, test_nursery_misnest and the other
 *   *_misnest* / asyncexitstack tests, test_cancel_scope_misnesting_*: they test Python's
 *   `with`/`async with` protocol misuse, which a callback API cannot express.
 * - test_exc_info*, test_exception_chaining*, test_traceback_frame_removal, test_context_run_tb_frames,
 *   test_nursery_exception_chaining_doesnt_make_context_loops: Python exception context chaining.
 * - test_*cyclic_garbage, test_locals_destroyed_promptly_on_cancel: CPython reference cycles.
 * - test_calling_asyncio_function*, test_asyncio_function_inside_nursery*, test_sniffio_integration,
 *   test_trio_context_detection: asyncio/sniffio interop.
 * - test_permanently_detach_coroutine_object, test_detach_and_reattach*, test_detached_coroutine_cancellation,
 *   test_async_function_implemented_in_C, test_nursery_stop_iteration, test_nursery_stop_async_iteration:
 *   Python coroutine-object internals.
 * - test_Nursery_init, test_Nursery_private_init, test_Nursery_subclass, test_CancelScope_subclass:
 *   Python's final-class checks (the TS constructors are @internal).
 * - test_ki_protection*, test_error_in_run_loop, test_system_task_crash_KeyboardInterrupt: KI
 *   protection has no JS equivalent (SIGINT arrives on the event loop, between tasks).
 * - test_setting_strict_exception_groups, test_nursery_collapse, test_trio_run_strict_before_started
 *   (loose mode): triode is strict only; the strict half is ported below.
 * - test_TrioToken_run_sync_soon_idempotent*: `runSyncSoon(fn, ...args)` has no `idempotent`
 *   flag (it guards Python signal handlers against re-entry; JS handlers run on the event loop).
 * - test_TrioToken_run_sync_soon_threaded_stress_test: a token does not cross threads (DESIGN §4).
 * - test_contextvar_*: covered by TaskLocal's own tests; test_current_statistics, test_cancel_scope_repr,
 *   test_spawn_name, test_task_tree_introspection: covered in test/main/core with triode's names.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Cancelled,
  CancelScope,
  checkpoint,
  checkpointIfCancelled,
  currentEffectiveDeadline,
  currentTime,
  ExceptionGroup,
  lowlevel,
  openNursery,
  RunFinishedError,
  run,
  sleep,
  sleepForever,
  TriodeInternalError,
  type Nursery,
  type TaskStatus,
} from 'triode';
import { MockClock, waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../helpers.js';

const { Abort, reschedule, waitTaskRescheduled, currentTask, spawnSystemTask, cancelShieldedCheckpoint, currentTrioToken } = lowlevel;

/** The leaf errors of a (nested) group, in order. */
function leaves(error: unknown): unknown[] {
  return error instanceof ExceptionGroup ? error.exceptions.flatMap(leaves) : [error];
}

class KeyError extends Error {}
class ValueError extends Error {}

test('test_basic', async () => {
  assert.is(await run(async () => 1 + 2), 3);
});

test('test_initial_task_error', async () => {
  const error = await rejection(run(async () => { throw new ValueError('x'); }));
  assert.instance(error, ValueError);
});

test('test_nursery_main_block_error_basic', mock(async () => {
  const exc = new ValueError('whoops');
  const error = await rejection(openNursery(async () => { throw exc; }));
  assert.equal(leaves(error), [exc]);
}));

test('test_child_crash_basic', mock(async () => {
  const exc = new ValueError('uh oh');
  const error = await rejection(openNursery(async (n) => { n.startSoon(async () => { throw exc; }); }));
  assert.equal(leaves(error), [exc]);
}));

test('test_basic_interleave', mock(async () => {
  const record: Array<[string, number]> = [];
  async function looper(whoami: string) {
    for (let i = 0; i < 3; i++) {
      record.push([whoami, i]);
      await checkpoint();
    }
  }
  await openNursery(async (n) => {
    n.startSoon(looper, 'a');
    n.startSoon(looper, 'b');
  });
  // Interleaved (the order within a step is not specified, only that both advance together).
  for (let i = 0; i < 3; i++) {
    assert.equal(record.slice(2 * i, 2 * i + 2).map((r) => r[1]).sort(), [i, i]);
  }
}));

test('test_task_crash_propagation', mock(async () => {
  const looperRecord: string[] = [];
  async function looper() {
    try {
      for (;;) await checkpoint();
    } catch (error) {
      if (error instanceof Cancelled) looperRecord.push('cancelled');
      throw error;
    }
  }
  const error = await rejection(openNursery(async (n) => {
    n.startSoon(looper);
    n.startSoon(async () => { throw new ValueError('argh'); });
  }));
  assert.equal(looperRecord, ['cancelled']);
  assert.equal(leaves(error).map((e) => (e as Error).message), ['argh']);
}));

test('test_main_and_task_both_crash', mock(async () => {
  const error = await rejection(openNursery(async (n) => {
    n.startSoon(async () => { throw new ValueError(); });
    throw new KeyError();
  }));
  const kinds = leaves(error).map((e) => (e as Error).constructor.name).sort();
  assert.equal(kinds, ['KeyError', 'ValueError']);
}));

test('test_two_child_crashes', mock(async () => {
  const error = await rejection(openNursery(async (n) => {
    n.startSoon(async () => { throw new KeyError(); });
    n.startSoon(async () => { throw new ValueError(); });
  }));
  assert.equal(leaves(error).map((e) => (e as Error).constructor.name).sort(), ['KeyError', 'ValueError']);
}));

test('test_child_crash_wakes_parent', mock(async () => {
  const error = await rejection(openNursery(async (n) => {
    n.startSoon(async () => { throw new ValueError('this is a crash'); });
    await sleepForever();
  }));
  assert.equal(leaves(error).map((e) => (e as Error).message), ['this is a crash']);
}));

test('test_reschedule', mock(async () => {
  let t1: lowlevel.Task | undefined;
  let t2: lowlevel.Task | undefined;
  async function child1() {
    t1 = currentTask();
    const x = await waitTaskRescheduled(() => Abort.FAILED);
    assert.is(x, 0);
    const error = await rejection(waitTaskRescheduled(() => Abort.FAILED));
    assert.instance(error, ValueError);
  }
  async function child2() {
    t2 = currentTask();
    reschedule(t1!, { value: 0 });
    await waitTaskRescheduled(() => Abort.FAILED);
    reschedule(t1!, { error: new ValueError() });
  }
  await openNursery(async (n) => {
    n.startSoon(child1);
    await waitAllTasksBlocked();
    n.startSoon(child2);
    await waitAllTasksBlocked();
    reschedule(t2!, { value: undefined });
  });
}));

test('test_current_time_with_mock_clock', mock(async (clock) => {
  const start = currentTime();
  assert.is(clock.currentTime(), currentTime());
  clock.jump(3140);
  assert.is(currentTime(), start + 3140);
}));

test('test_current_task', mock(async () => {
  let parent: lowlevel.Task | undefined;
  await openNursery(async (n) => {
    parent = currentTask();
    n.startSoon(async () => {
      assert.is(currentTask().parentNursery, n);
      assert.is(currentTask().parentNursery!.parentTask, parent);
    });
  });
}));

test('test_out_of_context', () => {
  assert.throws(() => currentTask());
  assert.throws(() => currentTime());
});

test('test_cancel_scope_validation', mock(async () => {
  assert.throws(() => new CancelScope({ deadline: 7, relativeDeadline: 3 }), /not both/);
  assert.throws(() => new CancelScope({ deadline: NaN }), /NaN/);
  assert.throws(() => new CancelScope({ relativeDeadline: NaN }), RangeError);
  assert.throws(() => new CancelScope({ relativeDeadline: -3 }), RangeError);
  const scope = new CancelScope();
  assert.throws(() => { scope.deadline = NaN; }, /NaN/);
  assert.throws(() => { scope.relativeDeadline = NaN; }, RangeError);
  assert.throws(() => { scope.relativeDeadline = -3; }, RangeError);
  scope.relativeDeadline = 5;
  assert.is(scope.relativeDeadline, 5);
}));

test('test_cancel_points', async () => {
  await run(async () => {
    const scope = new CancelScope();
    await scope.run(async () => {
      await checkpointIfCancelled();
      scope.cancel();
      assert.instance(await rejection(checkpointIfCancelled()), Cancelled);
    });
  });
  await run(async () => {
    const scope = new CancelScope();
    await scope.run(async () => {
      await checkpoint();
      scope.cancel();
      assert.instance(await rejection(checkpoint()), Cancelled);
    });
  });
  await run(async () => {
    const scope = new CancelScope();
    await scope.run(async () => {
      scope.cancel();
      assert.instance(await rejection(sleepForever()), Cancelled);
    });
  });
  await run(async () => {
    const scope = new CancelScope();
    await scope.run(async () => {
      scope.cancel();
      await cancelShieldedCheckpoint();
      await cancelShieldedCheckpoint();
      assert.instance(await rejection(checkpoint()), Cancelled);
    });
  });
});

test('test_cancel_edge_cases', mock(async () => {
  let scope = new CancelScope();
  await scope.run(async () => {
    scope.cancel();
    scope.cancel();
    await checkpoint();
  });
  assert.ok(scope.cancelCalled);
  assert.ok(scope.cancelledCaught);
  scope = new CancelScope();
  await scope.run(async () => {
    scope.cancel();
    assert.instance(await rejection(sleepForever()), Cancelled);
    assert.instance(await rejection(sleepForever()), Cancelled);
  });
}));

test('test_cancel_scope_exceptiongroup_filtering', mock(async () => {
  const scope = new CancelScope();
  await scope.run(async () => {
    await openNursery(async (n) => {
      n.startSoon(sleepForever);
      n.startSoon(sleepForever);
      await waitAllTasksBlocked();
      scope.cancel();
    });
  });
  assert.ok(scope.cancelledCaught);
}));

test('test_precancelled_task', mock(async () => {
  const record: string[] = [];
  await openNursery(async (n) => {
    n.cancelScope.cancel();
    n.startSoon(async () => {
      record.push('started');
      await sleepForever();
    });
  });
  assert.equal(record, ['started']);
}));

test('test_cancel_shielding', mock(async () => {
  const outer = new CancelScope();
  await outer.run(async () => {
    const inner = new CancelScope();
    await inner.run(async () => {
      await checkpoint();
      outer.cancel();
      assert.instance(await rejection(checkpoint()), Cancelled);
      assert.is(inner.shield, false);
      assert.throws(() => { (inner as { shield: unknown }).shield = 'hello'; }, TypeError);
      assert.is(inner.shield, false);
      inner.shield = true;
      assert.is(inner.shield, true);
      await checkpoint();
      const innerest = new CancelScope();
      await innerest.run(async () => {
        innerest.cancel();
        assert.instance(await rejection(checkpoint()), Cancelled);
      });
      await checkpoint();
      inner.shield = false;
      assert.instance(await rejection(checkpoint()), Cancelled);
      inner.shield = true;
      await checkpoint();
      inner.cancel();
      await checkpoint();
    });
    assert.ok(inner.cancelledCaught);
  });
}));

test('test_cancel_inheritance', mock(async () => {
  const record = new Set<string>();
  async function leaf(ident: string) {
    try {
      await sleepForever();
    } catch (error) {
      if (error instanceof Cancelled) record.add(ident);
      throw error;
    }
  }
  async function worker(ident: string) {
    await openNursery(async (n) => {
      n.startSoon(leaf, `${ident}-l1`);
      n.startSoon(leaf, `${ident}-l2`);
    });
  }
  await openNursery(async (n) => {
    n.startSoon(worker, 'w1');
    n.startSoon(worker, 'w2');
    n.cancelScope.cancel();
  });
  assert.equal([...record].sort(), ['w1-l1', 'w1-l2', 'w2-l1', 'w2-l2']);
}));

test('test_cancel_shield_abort', mock(async () => {
  const outer = new CancelScope();
  await outer.run(async () => {
    await openNursery(async (n) => {
      outer.cancel();
      n.cancelScope.shield = true;
      const record: string[] = [];
      n.startSoon(async () => {
        record.push('sleeping');
        try {
          await sleepForever();
        } catch (error) {
          record.push('cancelled');
          throw error;
        }
      });
      await waitAllTasksBlocked();
      assert.equal(record, ['sleeping']);
      n.cancelScope.shield = false;
      await new CancelScope({ shield: true }).run(async () => {
        await waitAllTasksBlocked();
        assert.equal(record, ['sleeping', 'cancelled']);
      });
    });
  });
}));

test('test_basic_timeout', mock(async (clock) => {
  let start = currentTime();
  let scope = new CancelScope();
  await scope.run(async () => {
    assert.is(scope.deadline, Infinity);
    scope.deadline = start + 1;
    assert.is(scope.deadline, start + 1);
  });
  assert.not.ok(scope.cancelCalled);
  clock.jump(2);
  await checkpoint();
  await checkpoint();
  await checkpoint();
  assert.not.ok(scope.cancelCalled);

  start = currentTime();
  scope = new CancelScope({ deadline: start + 1 });
  await scope.run(async () => {
    clock.jump(2);
    await sleepForever();
  });
  assert.ok(scope.cancelCalled);
  assert.ok(scope.cancelledCaught);

  start = currentTime();
  scope = new CancelScope();
  await scope.run(async () => {
    await checkpoint();
    scope.deadline = start + 10;
    await checkpoint();
    clock.jump(5);
    await checkpoint();
    scope.deadline = start + 1;
    assert.instance(await rejection(checkpoint()), Cancelled);
    assert.instance(await rejection(checkpoint()), Cancelled);
  });
}));

test('test_cancel_scope_nesting', mock(async () => {
  let scope1 = new CancelScope();
  const scope2 = new CancelScope();
  const scope3 = new CancelScope();
  await scope1.run(() =>
    scope2.run(() =>
      scope3.run(async () => {
        scope3.cancel();
        scope2.cancel();
        await sleepForever();
      }),
    ),
  );
  assert.ok(scope3.cancelCalled);
  assert.not.ok(scope3.cancelledCaught);
  assert.ok(scope2.cancelCalled);
  assert.ok(scope2.cancelledCaught);
  assert.not.ok(scope1.cancelCalled);
  assert.not.ok(scope1.cancelledCaught);

  scope1 = new CancelScope();
  await scope1.run(async () => {
    const inner = new CancelScope();
    await inner.run(async () => {
      scope1.cancel();
      assert.instance(await rejection(checkpoint()), Cancelled);
      assert.instance(await rejection(checkpoint()), Cancelled);
      inner.shield = true;
      await checkpoint();
      inner.cancel();
      assert.instance(await rejection(checkpoint()), Cancelled);
    });
  });

  const scope = new CancelScope();
  await scope.run(async () => {
    scope.cancel();
    await cancelShieldedCheckpoint();
  });
  await checkpoint();
  assert.not.ok(scope.cancelledCaught);
}));

test('test_unshield_while_cancel_propagating', mock(async () => {
  const outer = new CancelScope();
  const inner = new CancelScope();
  await outer.run(() =>
    inner.run(async () => {
      outer.cancel();
      try {
        await checkpoint();
      } finally {
        inner.shield = true;
      }
    }),
  );
  assert.ok(outer.cancelledCaught);
  assert.not.ok(inner.cancelledCaught);
}));

test('test_failed_abort', mock(async () => {
  let stubbornTask: lowlevel.Task | undefined;
  let stubbornScope: CancelScope | undefined;
  const record: string[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      stubbornTask = currentTask();
      stubbornScope = new CancelScope();
      await stubbornScope.run(async () => {
        record.push('sleep');
        const x = await waitTaskRescheduled(() => Abort.FAILED);
        assert.is(x, 1);
        record.push('woke');
        try {
          await checkpointIfCancelled();
        } catch (error) {
          record.push('cancelled');
          throw error;
        }
      });
    });
    await waitAllTasksBlocked();
    assert.equal(record, ['sleep']);
    stubbornScope!.cancel();
    await waitAllTasksBlocked();
    assert.equal(record, ['sleep']);
    reschedule(stubbornTask!, { value: 1 });
  });
  assert.equal(record, ['sleep', 'woke', 'cancelled']);
}));

test('test_spawn_system_task', async () => {
  const record: Array<[string, number]> = [];
  await run(async () => {
    spawnSystemTask(async (x: number) => {
      record.push(['x', x]);
      assert.is(currentTask().parentNursery, lowlevel.currentRootTask().childNurseries[0]);
    }, 1);
    await waitAllTasksBlocked();
  });
  assert.equal(record, [['x', 1]]);
});

test('test_system_task_crash', async () => {
  const error = await rejection(run(async () => {
    spawnSystemTask(async () => { throw new KeyError(); });
    await sleepForever();
  }));
  assert.instance(error, TriodeInternalError);
  assert.instance((error as Error).cause, KeyError);
});

test('test_system_task_crash_ExceptionGroup', async () => {
  const error = await rejection(run(async () => {
    spawnSystemTask(async () => {
      await openNursery(async (n) => {
        n.startSoon(async () => { throw new KeyError(); });
        n.startSoon(async () => { throw new ValueError(); });
      });
    });
    await sleepForever();
  }));
  assert.instance(error, TriodeInternalError);
  assert.equal(leaves((error as Error).cause).map((e) => (e as Error).constructor.name).sort(), ['KeyError', 'ValueError']);
});

test('test_system_task_crash_plus_Cancelled', async () => {
  const error = await rejection(run(async () => {
    spawnSystemTask(async () => {
      await openNursery(async (n) => {
        n.startSoon(async () => {
          try {
            await sleepForever();
          } catch {
            throw new ValueError();
          }
        });
        n.startSoon(sleepForever);
      });
    });
  }));
  assert.instance(error, TriodeInternalError);
  // The cause is the crash alone: the sibling's Cancelled is not in it.
  assert.equal(leaves((error as Error).cause).map((e) => (e as Error).constructor.name), ['ValueError']);
});

test('test_yield_briefly_checks_for_timeout', mock(async (clock) => {
  const scope = new CancelScope({ deadline: currentTime() + 5 });
  await scope.run(async () => {
    await checkpoint();
    clock.jump(10);
    await rejection(checkpoint()).then((e) => assert.instance(e, Cancelled));
    await checkpoint();
  });
  assert.ok(scope.cancelledCaught);
}));

test('test_TrioToken_identity', async () => {
  const get = async () => {
    const token = currentTrioToken();
    assert.is(token, currentTrioToken());
    return token;
  };
  const t1 = await run(get);
  const t2 = await run(get);
  assert.is.not(t1, t2);
});

test('test_TrioToken_run_sync_soon_basic', mock(async () => {
  const record: Array<[string, number]> = [];
  const token = currentTrioToken();
  token.runSyncSoon((x: number) => { record.push(['cb', x]); }, 1);
  assert.equal(record, []);
  await waitAllTasksBlocked();
  assert.equal(record, [['cb', 1]]);
}));

test('test_TrioToken_run_sync_soon_too_late', async () => {
  const token = await run(async () => currentTrioToken());
  assert.throws(() => token.runSyncSoon(() => {}), (e: Error) => e instanceof RunFinishedError);
});

test('test_TrioToken_run_sync_soon_after_main_crash', async () => {
  const record: string[] = [];
  const error = await rejection(run(async () => {
    currentTrioToken().runSyncSoon(() => { record.push('sync-cb'); });
    throw new ValueError('error text');
  }));
  assert.is((error as Error).message, 'error text');
  assert.equal(record, ['sync-cb']);
});

test('test_TrioToken_run_sync_soon_crashes', async () => {
  const record = new Set<string>();
  const error = await rejection(run(async () => {
    const token = currentTrioToken();
    token.runSyncSoon(() => { throw new KeyError('nope'); });
    token.runSyncSoon(() => { record.add('2nd run_sync_soon ran'); });
    try {
      await sleepForever();
    } catch (e) {
      if (e instanceof Cancelled) record.add('cancelled!');
      throw e;
    }
  }));
  assert.instance(error, TriodeInternalError);
  assert.instance((error as Error).cause, KeyError);
  assert.equal([...record].sort(), ['2nd run_sync_soon ran', 'cancelled!']);
});

test('test_TrioToken_run_sync_soon_FIFO', mock(async () => {
  const record: number[] = [];
  const token = currentTrioToken();
  for (let i = 0; i < 100; i++) token.runSyncSoon((j: number) => { record.push(j); }, i);
  await waitAllTasksBlocked();
  assert.equal(record, Array.from({ length: 100 }, (_, i) => i));
}));

test('test_TrioToken_run_sync_soon_starvation_resistance', async () => {
  const record: Array<[string, number]> = [];
  let token: lowlevel.TrioToken | undefined;
  const naughty = (i: number): void => {
    try {
      token!.runSyncSoon(naughty, i + 1);
    } catch (error) {
      if (error instanceof RunFinishedError) record.push(['run finished', i]);
      else throw error;
    }
  };
  await run(async () => {
    token = currentTrioToken();
    token.runSyncSoon(naughty, 0);
    record.push(['starting', 0]);
    for (let i = 0; i < 20; i++) await checkpoint();
  });
  assert.is(record.length, 2);
  assert.equal(record[0], ['starting', 0]);
  assert.is(record[1]![0], 'run finished');
});

test('test_TrioToken_run_sync_soon_massive_queue', mock(async () => {
  const COUNT = 1000;
  const token = currentTrioToken();
  let counter = 0;
  for (let i = 0; i < COUNT; i++) {
    token.runSyncSoon((j: number) => {
      assert.is(counter, j);
      counter++;
    }, i);
  }
  await waitAllTasksBlocked();
  assert.is(counter, COUNT);
}));

test('test_TrioToken_run_sync_soon_late_crash', async () => {
  // Crash after the system nursery closed: a call queued while the run is ending.
  const record: string[] = [];
  const error = await rejection(run(async () => {
    const token = currentTrioToken();
    spawnSystemTask(async () => {
      try {
        await sleepForever();
      } finally {
        token.runSyncSoon(() => { throw new KeyError('nope'); });
        token.runSyncSoon(() => { record.push('2nd ran'); });
      }
    });
  }));
  assert.instance(error, TriodeInternalError);
  assert.equal(record, ['2nd ran']);
});

test('TrioToken.run from outside the run (a foreign event handler)', async () => {
  const { EventEmitter } = await import('node:events');
  const emitter = new EventEmitter();
  const results: unknown[] = [];
  await run(async () => {
    const token = currentTrioToken();
    // Code outside every task: it cannot call triode itself, only through the token.
    emitter.on('job', (n: number) => {
      token.run(async (x: number) => { await sleep(1); return x * 2; }, n).then((v) => results.push(v));
    });
    emitter.emit('job', 21);
    await sleep(50);
  });
  assert.equal(results, [42]);
  const late = await run(async () => currentTrioToken());
  assert.instance(await rejection(late.run(async () => 1)), RunFinishedError);
});

test('test_slow_abort_basic', mock(async () => {
  const scope = new CancelScope();
  await scope.run(async () => {
    scope.cancel();
    const task = currentTask();
    const token = currentTrioToken();
    const error = await rejection(waitTaskRescheduled((raiseCancel) => {
      let result: lowlevel.Outcome;
      try {
        raiseCancel();
      } catch (error) {
        result = { error };
      }
      token.runSyncSoon(reschedule, task, result!);
      return Abort.FAILED;
    }));
    assert.instance(error, Cancelled);
    throw error;
  });
}));

test('test_slow_abort_edge_cases', mock(async () => {
  const record: string[] = [];
  async function slowAborter() {
    const task = currentTask();
    const token = currentTrioToken();
    record.push('sleeping');
    const error = await rejection(waitTaskRescheduled((raiseCancel) => {
      record.push('abort-called');
      let result: lowlevel.Outcome;
      try {
        raiseCancel();
      } catch (e) {
        result = { error: e };
      }
      token.runSyncSoon(reschedule, task, result!);
      return Abort.FAILED;
    }));
    assert.instance(error, Cancelled);
    record.push('cancelled');
    await checkpoint();
    record.push('done');
  }
  const outer1 = new CancelScope();
  const outer2 = new CancelScope();
  await outer1.run(() =>
    outer2.run(async () => {
      await openNursery(async (n) => {
        n.startSoon(slowAborter);
        await waitAllTasksBlocked();
        assert.equal(record, ['sleeping']);
        outer1.cancel();
        assert.equal(record, ['sleeping', 'abort-called']);
        outer2.cancel();
        assert.equal(record, ['sleeping', 'abort-called']);
        n.cancelScope.shield = true;
      });
      assert.equal(record, ['sleeping', 'abort-called', 'cancelled', 'done']);
    }),
  );
}));

test('test_nursery_closure', mock(async () => {
  const child2 = async () => {};
  let saved: Nursery | undefined;
  await openNursery(async (n) => {
    saved = n;
    n.startSoon(async (nursery: Nursery) => { nursery.startSoon(child2); }, n);
  });
  assert.throws(() => saved!.startSoon(child2), /closed/);
}));

test('test_current_effective_deadline', () => run(async () => {
  assert.is(currentEffectiveDeadline(), Infinity);
  const scope1 = new CancelScope({ deadline: 5 });
  await scope1.run(async () => {
    const scope2 = new CancelScope({ deadline: 10 });
    await scope2.run(async () => {
      assert.is(currentEffectiveDeadline(), 5);
      scope2.deadline = 3;
      assert.is(currentEffectiveDeadline(), 3);
      scope2.deadline = 10;
      assert.is(currentEffectiveDeadline(), 5);
      scope2.shield = true;
      assert.is(currentEffectiveDeadline(), 10);
      scope2.shield = false;
      assert.is(currentEffectiveDeadline(), 5);
      scope1.cancel();
      assert.is(currentEffectiveDeadline(), -Infinity);
      scope2.shield = true;
      assert.is(currentEffectiveDeadline(), 10);
    });
    assert.is(currentEffectiveDeadline(), -Infinity);
  });
  assert.is(currentEffectiveDeadline(), Infinity);
}, { clock: new MockClock({ autojumpThreshold: 0 }) }));

async function sleepThenStart(ms: number, taskStatus: TaskStatus<number>) {
  await sleep(ms);
  taskStatus.started(ms);
  await sleep(ms);
}

test('test_nursery_start', mock(async () => {
  for (const ms of [1, 2]) {
    let t0 = 0;
    await openNursery(async (n) => {
      assert.is(n.childTasks.length, 0);
      t0 = currentTime();
      assert.is(await n.start(sleepThenStart, ms), ms);
      assert.is(currentTime() - t0, ms);
      assert.is(n.childTasks.length, 1);
    });
    assert.is(currentTime() - t0, 2 * ms);
  }
  // Calling started() twice raises.
  await openNursery(async (n) => {
    await n.start(async (taskStatus: TaskStatus<void>) => {
      taskStatus.started();
      assert.throws(() => taskStatus.started(), /more than once/);
    });
  });
  // An error before started() comes out of start().
  await openNursery(async (n) => {
    const error = await rejection(n.start(async () => { throw new KeyError('oops'); }));
    assert.instance(error, KeyError);
  });
  // Exiting without started() is an error.
  await openNursery(async (n) => {
    const error = await rejection(n.start(async () => {}));
    assert.match((error as Error).message, /exited without calling/);
  });
  // started() in an already cancelled start(): start() raises Cancelled.
  await openNursery(async (n) => {
    const cs = new CancelScope();
    await cs.run(async () => {
      cs.cancel();
      const error = await rejection(n.start(async (taskStatus: TaskStatus<string>) => {
        taskStatus.started('hi');
        await checkpoint();
      }));
      assert.instance(error, Cancelled);
      throw error;
    });
  });
  // started() with no checkpoint after it: start() returns, and the scope caught nothing.
  await openNursery(async (n) => {
    const cs = new CancelScope();
    await cs.run(async () => {
      cs.cancel();
      await n.start(async (taskStatus: TaskStatus<void>) => { taskStatus.started(); });
    });
    assert.not.ok(cs.cancelledCaught);
  });
  // A crash after started() in a cancelled start() still comes out of start().
  await openNursery(async (n) => {
    const cs = new CancelScope();
    await cs.run(async () => {
      cs.cancel();
      const error = await rejection(n.start(async (taskStatus: TaskStatus<void>) => {
        taskStatus.started();
        throw new KeyError('whoopsiedaisy');
      }));
      assert.instance(error, KeyError);
    });
  });
  // A closed nursery refuses start() at once.
  let closed: Nursery | undefined;
  await openNursery(async (n) => { closed = n; });
  const t0 = currentTime();
  assert.match(((await rejection(closed!.start(sleepThenStart, 7))) as Error).message, /closed/);
  assert.is(currentTime(), t0);
}));

test('test_nursery_start_with_cancelled_nursery', mock(async () => {
  async function setupNursery(taskStatus: TaskStatus<Nursery>) {
    await openNursery(async (n) => {
      taskStatus.started(n);
      await sleepForever();
    });
  }
  async function sleepingChildren(fn: () => void, taskStatus: TaskStatus<void>) {
    await openNursery(async (n) => {
      n.startSoon(sleepForever);
      n.startSoon(sleepForever);
      await waitAllTasksBlocked();
      fn();
      taskStatus.started();
    });
  }
  await openNursery(async (n) => {
    const target = await n.start(setupNursery);
    await target.start(sleepingChildren, () => target.cancelScope.cancel());
  });
  await openNursery(async (n) => {
    const target = await n.start(setupNursery);
    await target.start(sleepingChildren, () => {});
    target.cancelScope.cancel();
  });
}));

test('test_nursery_start_keeps_nursery_open', mock(async () => {
  async function sleepABit(taskStatus: TaskStatus<void>) {
    await sleep(2);
    taskStatus.started();
    await sleep(3);
  }
  let t0 = 0;
  await openNursery(async (nursery1) => {
    t0 = currentTime();
    await openNursery(async (nursery2) => {
      nursery1.startSoon(() => nursery2.start(sleepABit));
      await sleep(1);
      nursery1.startSoon(() => nursery2.start(sleepABit));
    });
    assert.is(currentTime() - t0, 6);
  });
  async function sleepThenCrash(_taskStatus: TaskStatus<void>) {
    await sleep(7);
    throw new KeyError();
  }
  await openNursery(async (nursery1) => {
    t0 = currentTime();
    await openNursery(async (nursery2) => {
      nursery1.startSoon(async () => {
        assert.instance(await rejection(nursery2.start(sleepThenCrash)), KeyError);
      });
      await waitAllTasksBlocked();
    });
    assert.is(currentTime() - t0, 7);
  });
}));

test('test_trio_run_strict_before_started (strict half)', async () => {
  for (const raiseAfterStarted of [false, true]) {
    const raiserExc = new ValueError();
    const error = await rejection(run(() => openNursery(async (n) => {
      await n.start(async (taskStatus: TaskStatus<void>) => {
        if (raiseAfterStarted) taskStatus.started();
        throw raiserExc;
      });
    })));
    assert.instance(error, ExceptionGroup);
    assert.equal((error as ExceptionGroup).exceptions, [raiserExc]);
  }
});

test('test_start_exception_preserves_cause_and_context', mock(async () => {
  const error = await rejection(openNursery(async (n) => {
    await n.start(async () => {
      throw new ValueError('foo', { cause: new SyntaxError('bar') });
    });
  }));
  const [inner] = (error as ExceptionGroup).exceptions as Error[];
  assert.instance(inner, ValueError);
  assert.instance(inner!.cause, SyntaxError);
}));

test('test_cancel_scope_deadline_duplicates', mock(async () => {
  const now = currentTime();
  const scope = new CancelScope();
  await scope.run(async () => {
    for (let i = 0; i < 2000; i++) {
      scope.deadline = now + 9998;
      scope.deadline = now + 9999;
    }
    await sleep(10);
  });
  assert.not.ok(scope.cancelCalled);
}));

test('test_cancel_scope_no_cancellederror', mock(async () => {
  const scope = new CancelScope();
  const error = await rejection(scope.run(async () => {
    scope.cancel();
    throw new ExceptionGroup('test', [new RangeError(), new RangeError()]);
  }));
  assert.instance(error, ExceptionGroup);
  assert.not.ok(scope.cancelledCaught);
}));

test('test_very_deep_cancel_scope_nesting', mock(async () => {
  const outermost = new CancelScope();
  const nest = async (depth: number): Promise<void> => {
    if (depth === 0) {
      outermost.cancel();
      await sleepForever();
      return;
    }
    await new CancelScope().run(() => nest(depth - 1));
  };
  await outermost.run(() => nest(1000));
  assert.ok(outermost.cancelledCaught);
}));

test('test_Task_custom_sleep_data', mock(async () => {
  // triode's Wait carries customSleepData for the blocking primitive; a task's wait starts empty.
  let seen: unknown = 'unset';
  await openNursery(async (n) => {
    n.startSoon(async () => {
      await waitTaskRescheduled(() => Abort.SUCCEEDED);
    });
    await waitAllTasksBlocked();
    seen = n.childTasks[0]!.wait?.customSleepData;
    n.cancelScope.cancel();
  });
  assert.is(seen, undefined);
}));

// ---- deviations the translated suite found (issue list, items 1–11) -------------------------

test('started() under a cancelled start() leaves the target nursery and its children alone', mock(async () => {
  const record: string[] = [];
  await openNursery(async (target) => {
    target.startSoon(async () => {
      try {
        await sleep(10);
        record.push('sibling finished');
      } catch (error) {
        record.push('sibling cancelled');
        throw error;
      }
    });
    const cs = new CancelScope();
    await cs.run(async () => {
      cs.cancel();
      await target.start(async (taskStatus: TaskStatus<void>) => {
        taskStatus.started();
        await sleepForever();
      });
    });
    assert.ok(cs.cancelledCaught);
  });
  assert.equal(record, ['sibling finished']);
}));

test('an AbortSignal taken before started() follows the task into the target nursery', mock(async () => {
  let aborted = false;
  await openNursery(async (outer) => {
    const target = await outer.start(async (taskStatus: TaskStatus<Nursery>) => {
      await openNursery(async (n) => {
        taskStatus.started(n);
        await sleepForever();
      });
    });
    await target.start(async (taskStatus: TaskStatus<void>) => {
      const signal = lowlevel.currentTask() && (await import('triode')).currentAbortSignal();
      signal.addEventListener('abort', () => { aborted = true; });
      taskStatus.started();
      await sleepForever();
    });
    target.cancelScope.cancel();
    await waitAllTasksBlocked();
    assert.ok(aborted, 'cancelling the target aborted the signal the task took before started()');
    outer.cancelScope.cancel();
  });
}));

test('a cancelled nursery exit adds no Cancelled of its own: code after it runs', mock(async () => {
  const outer = new CancelScope();
  let after = false;
  await outer.run(async () => {
    await openNursery(async (n) => {
      n.startSoon(async () => {
        // Swallows its cancellation (allowed, if unusual) and exits normally.
        try {
          await sleepForever();
        } catch {
          // ignore
        }
      });
      await waitAllTasksBlocked();
      outer.cancel();
    });
    after = true;
  });
  assert.ok(after, 'the code after the nursery ran');
  assert.not.ok(outer.cancelledCaught);
}));

test('a blocking wait entered in a cancelled scope raises even if it could complete', mock(async () => {
  const { Event } = await import('triode');
  const event = new Event();
  const scope = new CancelScope();
  await openNursery(async (n) => {
    await scope.run(async () => {
      scope.cancel();
      // Another task sets the event in the same step; the wait must still be cancelled.
      n.startSoon(() => event.set());
      queueMicrotask(() => event.set());
      assert.instance(await rejection(event.wait()), Cancelled);
      const lot = new lowlevel.ParkingLot();
      queueMicrotask(() => lot.unparkAll());
      assert.instance(await rejection(lot.park()), Cancelled);
    });
  });
}));

test('cancelCalled is true for a scope whose deadline passed before entry', mock(async (clock) => {
  const scope = new CancelScope({ deadline: currentTime() + 5 });
  assert.not.ok(scope.cancelCalled);
  clock.jump(10);
  assert.ok(scope.cancelCalled);
}));

test('an unentered relative scope has no absolute deadline to read or set', mock(async () => {
  const scope = new CancelScope({ relativeDeadline: 5 });
  assert.throws(() => scope.deadline, /relativeDeadline/);
  assert.throws(() => { scope.deadline = 100; }, /relativeDeadline/);
  const absolute = new CancelScope({ deadline: 100 });
  assert.throws(() => { absolute.relativeDeadline = 5; }, /absolute deadline/);
  scope.relativeDeadline = Infinity;
  scope.deadline = 100;
  assert.is(scope.deadline, 100);
}));

test('currentAbortSignal aborts when its block exits normally', mock(async () => {
  const { currentAbortSignal } = await import('triode');
  let signal: AbortSignal | undefined;
  await new CancelScope().run(async () => { signal = currentAbortSignal(); });
  assert.ok(signal!.aborted, 'the listeners of a finished block are released');
  assert.instance(signal!.reason, Cancelled);
}));

test('waitForEvent with a bad emitter throws before blocking; the task can still wait', mock(async () => {
  assert.instance(await rejection(lowlevel.waitForEvent({} as never, 'x')), TypeError);
  await sleep(1); // the task is not left "already blocked"
  const scope = new CancelScope();
  await openNursery(async (n) => {
    n.startSoon(async () => { await waitAllTasksBlocked(); scope.cancel(); });
    await scope.run(() => sleepForever());
  });
}));

test.run();
