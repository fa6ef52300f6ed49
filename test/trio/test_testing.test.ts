/**
 * Trio's `_tests/test_testing.py`, translated case by case (names kept).
 *
 * Not carried over, and why:
 * - test_wait_all_tasks_blocked_with_cushion: a real-time ordering race (10 ms sleeps against
 *   20/30 ms cushions) that a busy machine loses; cushions are tested on virtual time in
 *   test_timeouts (test_mock_clock_autojump_0_and_wait_all_tasks_blocked_nonzero) and
 *   test/main/testing.
 * - test__assert_raises, test__UnboundeByteQueue: private Trio helpers (the byte queue is
 *   tested through MemorySendStream/MemoryReceiveStream below).
 * - test_memory_stream_*, test_*_with_generic_tests, test_open_stream_to_socket_listener:
 *   covered by test/main/streams (the same generic stream checks run on every stream).
 * - test_trio_test: the pytest plugin.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acloseForcefully, BusyResourceError, Cancelled, ClosedResourceError, lowlevel, openNursery, sleep, WouldBlock, checkpoint, checkpointIfCancelled } from 'triode';
import { assertCheckpoints, assertNoCheckpoints, MemoryReceiveStream, MemorySendStream, Sequencer, waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../helpers.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (s: string) => new TextEncoder().encode(s);

test('test_wait_all_tasks_blocked', mock(async () => {
  let record: string[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      for (let i = 0; i < 10; i++) await checkpoint();
      record.push('busy bee exhausted');
    });
    const waiting = async () => {
      await waitAllTasksBlocked();
      record.push('quiet at last!');
    };
    n.startSoon(waiting);
    n.startSoon(waiting);
  });
  assert.equal(record, ['busy bee exhausted', 'quiet at last!', 'quiet at last!']);
  record = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      try {
        await waitAllTasksBlocked();
      } catch (error) {
        if (error instanceof Cancelled) record.push('ok');
        throw error;
      }
    });
    n.cancelScope.cancel();
  });
  assert.equal(record, ['ok']);
}));

test('test_wait_all_tasks_blocked_with_timeouts', mock(async (clock) => {
  clock.autojumpThreshold = Infinity;
  const record: string[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      record.push('tt start');
      await sleep(5);
      record.push('tt finished');
    });
    await waitAllTasksBlocked();
    assert.equal(record, ['tt start']);
    clock.jump(10);
    await waitAllTasksBlocked();
    assert.equal(record, ['tt start', 'tt finished']);
  });
}));

test('test_assert_checkpoints', mock(async () => {
  await assertCheckpoints(() => checkpoint());
  assert.instance(await rejection(assertCheckpoints(() => 1 + 1)), Error);
  for (const partial of [checkpointIfCancelled, lowlevel.cancelShieldedCheckpoint]) {
    assert.instance(await rejection(assertCheckpoints(() => partial())), Error);
  }
  await assertCheckpoints(async () => {
    await checkpointIfCancelled();
    await lowlevel.cancelShieldedCheckpoint();
  });
}));

test('test_assert_no_checkpoints', mock(async () => {
  await assertNoCheckpoints(() => 1 + 1);
  assert.instance(await rejection(assertNoCheckpoints(() => checkpoint())), Error);
  for (const partial of [checkpointIfCancelled, lowlevel.cancelShieldedCheckpoint]) {
    assert.instance(await rejection(assertNoCheckpoints(() => partial())), Error);
  }
}));

test('test_Sequencer', mock(async () => {
  const record: Array<[string, number]> = [];
  let seq = new Sequencer();
  const f1 = async () => {
    await seq.block(1, () => { record.push(['f1', 1]); });
    await seq.block(3, () => { record.push(['f1', 3]); });
    await seq.block(4, () => { record.push(['f1', 4]); });
  };
  const f2 = async () => {
    await seq.block(0, () => { record.push(['f2', 0]); });
    await seq.block(2, () => { record.push(['f2', 2]); });
  };
  await openNursery(async (n) => {
    n.startSoon(f1);
    n.startSoon(f2);
    await seq.block(5, () => waitAllTasksBlocked());
    assert.equal(record, [['f2', 0], ['f1', 1], ['f2', 2], ['f1', 3], ['f1', 4]]);
  });
  seq = new Sequencer();
  await seq.block(0, () => {});
  assert.ok(await rejection(seq.block(0, () => {})));
}));

test('test_Sequencer_cancel', mock(async () => {
  const record: string[] = [];
  const seq = new Sequencer();
  const { CancelScope } = await import('triode');
  const child = async (i: number) => {
    const scope = new CancelScope();
    await scope.run(async () => {
      if (i === 1) scope.cancel();
      try {
        await seq.block(i, () => {});
      } catch {
        // 1 is cancelled while waiting for its turn, which breaks the sequence for 2.
        record.push(`seq(${i}) error`);
      }
    });
  };
  await openNursery(async (n) => {
    n.startSoon(child, 1);
    n.startSoon(child, 2);
    await seq.block(0, () => {});
  });
  assert.equal(record, ['seq(1) error', 'seq(2) error']);
  assert.ok(await rejection(seq.block(3, () => {})));
}));

test('test_MemorySendStream', mock(async () => {
  const mss = new MemorySendStream();
  const doSendAll = (data: string) => assertCheckpoints(() => mss.sendAll(bytes(data)));
  await doSendAll('123');
  assert.is(text(mss.getDataNowait(1)), '1');
  assert.is(text(mss.getDataNowait()), '23');
  await assertCheckpoints(() => mss.waitSendAllMightNotBlock());
  assert.throws(() => mss.getDataNowait(), (e: Error) => e instanceof WouldBlock);
  assert.throws(() => mss.getDataNowait(10), (e: Error) => e instanceof WouldBlock);
  await doSendAll('456');
  assert.is(text(await assertCheckpoints(() => mss.getData())), '456');
  let busy = 0;
  const countBusy = async () => {
    try {
      await doSendAll('xxx');
    } catch (error) {
      if (error instanceof BusyResourceError) busy++;
      else throw error;
    }
  };
  // A hook that yields makes the two sends overlap, as Trio's send_all checkpoint does.
  mss.sendAllHook = () => lowlevel.cancelShieldedCheckpoint();
  await openNursery(async (n) => {
    n.startSoon(countBusy);
    n.startSoon(countBusy);
  });
  mss.sendAllHook = undefined;
  assert.is(busy, 1);
  await assertCheckpoints(() => mss.aclose());
  assert.is(text(await mss.getData()), 'xxx');
  assert.is(text(await mss.getData()), '');
  assert.instance(await rejection(doSendAll('---')), ClosedResourceError);

  const record: string[] = [];
  const mss2: MemorySendStream = new MemorySendStream(
    async () => {
      assert.is(text(mss2.getDataNowait()), 'abc');
      record.push('send_all_hook');
    },
    async () => { record.push('wait_send_all_might_not_block_hook'); },
    () => { record.push('close_hook'); },
  );
  await mss2.sendAll(bytes('abc'));
  await mss2.waitSendAllMightNotBlock();
  await acloseForcefully(mss2);
  assert.equal(record, ['send_all_hook', 'wait_send_all_might_not_block_hook', 'close_hook']);
}));

test('test_MemoryReceiveStream', mock(async () => {
  const mrs = new MemoryReceiveStream();
  const doReceiveSome = (max?: number) => assertCheckpoints(() => mrs.receiveSome(max));
  mrs.putData(bytes('abc'));
  assert.is(text(await doReceiveSome(1)), 'a');
  assert.is(text(await doReceiveSome(10)), 'bc');
  mrs.putData(bytes('abc'));
  assert.is(text(await doReceiveSome()), 'abc');
  const error = await rejection(openNursery(async (n) => {
    n.startSoon(() => doReceiveSome(10));
    n.startSoon(() => doReceiveSome(10));
  }));
  assert.instance((error as { exceptions: unknown[] }).exceptions[0], BusyResourceError);
  mrs.putData(bytes('def'));
  mrs.putEof();
  mrs.putEof();
  assert.is(text(await doReceiveSome(10)), 'def');
  assert.is(text(await doReceiveSome(10)), '');
  assert.is(text(await doReceiveSome(10)), '');
  assert.throws(() => mrs.putData(bytes('---')), (e: Error) => e instanceof ClosedResourceError);
}));

test.run();
