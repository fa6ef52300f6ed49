/**
 * Trio's `_tests/test_channel.py`, translated case by case (names kept). `async with channel`
 * becomes `channel.aclose()` in a `finally`; `with channel` becomes `close()`.
 *
 * Not carried over, and why:
 * - test_as_safe_channel_*: `as_safe_channel` (async generators as channels) is not part of
 *   triode's API (DESIGN §4); a memory channel fed by a task in a nursery is the pattern.
 * - `peak_buffer_used` in test_statistics: triode's statistics have the fields DESIGN §4 lists;
 *   the rest of test_statistics is ported.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BrokenResourceError,
  ClosedResourceError,
  EndOfChannel,
  moveOnAfter,
  openMemoryChannel,
  openNursery,
  WouldBlock,
  type MemoryReceiveChannel,
  type MemorySendChannel,
} from 'triode';
import { assertCheckpoints, waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection } from '../helpers.js';

const isA = (cls: new (...args: never[]) => Error) => (e: Error) => e instanceof cls;

test('test_channel', mock(async () => {
  assert.throws(() => openMemoryChannel(1.5), RangeError);
  assert.throws(() => openMemoryChannel(-1), RangeError);
  const [s, r] = openMemoryChannel<number | string | null>(2);
  s.sendNowait(1);
  await assertCheckpoints(() => s.send(2));
  assert.throws(() => s.sendNowait(null), isA(WouldBlock));
  assert.is(await assertCheckpoints(() => r.receive()), 1);
  assert.is(r.receiveNowait(), 2);
  assert.throws(() => r.receiveNowait(), isA(WouldBlock));
  s.sendNowait('last');
  await s.aclose();
  assert.instance(await rejection(s.send('too late')), ClosedResourceError);
  assert.throws(() => s.sendNowait('too late'), isA(ClosedResourceError));
  assert.throws(() => s.clone(), isA(ClosedResourceError));
  await s.aclose();
  assert.is(r.receiveNowait(), 'last');
  assert.instance(await rejection(r.receive()), EndOfChannel);
  await r.aclose();
  assert.instance(await rejection(r.receive()), ClosedResourceError);
  assert.throws(() => r.receiveNowait(), isA(ClosedResourceError));
  await r.aclose();
}));

test('test_553', mock(async () => {
  const [s, r] = openMemoryChannel<string>(1);
  assert.is(await moveOnAfter(10, () => r.receive()), undefined);
  await s.send('Test for PR #553');
}));

test('test_channel_multiple_producers', mock(async () => {
  const producer = async (send: MemorySendChannel<number>, i: number) => {
    try {
      for (let j = 3 * i; j < 3 * (i + 1); j++) await send.send(j);
    } finally {
      await send.aclose();
    }
  };
  const [send, receive] = openMemoryChannel<number>(0);
  await openNursery(async (n) => {
    try {
      for (let i = 0; i < 10; i++) n.startSoon(producer, send.clone(), i);
    } finally {
      await send.aclose();
    }
    const got: number[] = [];
    for await (const value of receive) got.push(value);
    got.sort((a, b) => a - b);
    assert.equal(got, Array.from({ length: 30 }, (_, i) => i));
  });
}));

test('test_channel_multiple_consumers', mock(async () => {
  const successful = new Set<number>();
  const received: number[] = [];
  const consumer = async (receive: MemoryReceiveChannel<number>, i: number) => {
    for await (const value of receive) {
      successful.add(i);
      received.push(value);
    }
  };
  await openNursery(async (n) => {
    const [send, receive] = openMemoryChannel<number>(1);
    try {
      for (let i = 0; i < 5; i++) n.startSoon(consumer, receive, i);
      await waitAllTasksBlocked();
      for (let i = 0; i < 10; i++) await send.send(i);
    } finally {
      await send.aclose();
    }
  });
  assert.equal([...successful].sort(), [0, 1, 2, 3, 4]);
  assert.is(received.length, 10);
  assert.equal([...received].sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i));
}));

for (const [name, close] of [
  ['test_close_basics', (c: { aclose(): Promise<void> }) => c.aclose()],
  ['test_close_sync', (c: { close(): void }) => c.close()],
] as const) {
  test(name, mock(async () => {
    const sendBlock = async (s: MemorySendChannel<null>, expect: new (...a: never[]) => Error) => {
      assert.instance(await rejection(s.send(null)), expect);
    };
    let [s, r] = openMemoryChannel<null>(0);
    await openNursery(async (n) => {
      n.startSoon(sendBlock, s, ClosedResourceError);
      await waitAllTasksBlocked();
      await close(s as never);
    });
    assert.throws(() => s.sendNowait(null), isA(ClosedResourceError));
    assert.instance(await rejection(s.send(null)), ClosedResourceError);
    assert.throws(() => r.receiveNowait(), isA(EndOfChannel));
    assert.instance(await rejection(r.receive()), EndOfChannel);

    [s, r] = openMemoryChannel<null>(0);
    await openNursery(async (n) => {
      n.startSoon(sendBlock, s, BrokenResourceError);
      await waitAllTasksBlocked();
      await close(r as never);
    });
    assert.throws(() => s.sendNowait(null), isA(BrokenResourceError));
    assert.instance(await rejection(s.send(null)), BrokenResourceError);

    const [, r2] = openMemoryChannel<number>(0);
    await openNursery(async (n) => {
      n.startSoon(async () => { assert.instance(await rejection(r2.receive()), ClosedResourceError); });
      await waitAllTasksBlocked();
      await close(r2 as never);
    });
    assert.throws(() => r2.receiveNowait(), isA(ClosedResourceError));
    assert.instance(await rejection(r2.receive()), ClosedResourceError);
  }));
}

test('test_receive_channel_clone_and_close', mock(async () => {
  const [s, r] = openMemoryChannel<null>(10);
  const r2 = r.clone();
  const r3 = r.clone();
  s.sendNowait(null);
  await r.aclose();
  r2.close();
  assert.throws(() => r.clone(), isA(ClosedResourceError));
  assert.throws(() => r2.clone(), isA(ClosedResourceError));
  s.sendNowait(null);
  await r3.aclose();
  assert.throws(() => s.sendNowait(null), isA(BrokenResourceError));
}));

test('test_close_multiple_send_handles', mock(async () => {
  const [s1, r] = openMemoryChannel<string>(0);
  const s2 = s1.clone();
  await openNursery(async (n) => {
    n.startSoon(async () => { assert.instance(await rejection(s1.send('nope')), ClosedResourceError); });
    n.startSoon(() => s2.send('ok'));
    await waitAllTasksBlocked();
    await s1.aclose();
    assert.is(await r.receive(), 'ok');
  });
}));

test('test_close_multiple_receive_handles', mock(async () => {
  const [s, r1] = openMemoryChannel<string>(0);
  const r2 = r1.clone();
  await openNursery(async (n) => {
    n.startSoon(async () => { assert.instance(await rejection(r1.receive()), ClosedResourceError); });
    n.startSoon(async () => { assert.is(await r2.receive(), 'ok'); });
    await waitAllTasksBlocked();
    await r1.aclose();
    await s.send('ok');
  });
}));

test('test_inf_capacity', mock(async () => {
  const [send, receive] = openMemoryChannel<number>(Infinity);
  for (let i = 0; i < 10; i++) send.sendNowait(i);
  send.close();
  const got: number[] = [];
  for await (const i of receive) got.push(i);
  assert.equal(got, Array.from({ length: 10 }, (_, i) => i));
}));

test('test_statistics', mock(async () => {
  const [s, r] = openMemoryChannel<null>(2);
  assert.equal(s.statistics(), r.statistics());
  let stats = s.statistics();
  assert.is(stats.currentBufferUsed, 0);
  assert.is(stats.maxBufferSize, 2);
  assert.is(stats.openSendChannels, 1);
  assert.is(stats.openReceiveChannels, 1);
  assert.is(stats.tasksWaitingSend, 0);
  assert.is(stats.tasksWaitingReceive, 0);
  s.sendNowait(null);
  assert.is(s.statistics().currentBufferUsed, 1);
  const s2 = s.clone();
  assert.is(s.statistics().openSendChannels, 2);
  await s.aclose();
  assert.is(s2.statistics().openSendChannels, 1);
  const r2 = r.clone();
  assert.is(s2.statistics().openReceiveChannels, 2);
  await r2.aclose();
  assert.is(s2.statistics().openReceiveChannels, 1);
  await openNursery(async (n) => {
    s2.sendNowait(null);
    assert.is(s.statistics().currentBufferUsed, 2);
    n.startSoon(() => s2.send(null));
    n.startSoon(() => s2.send(null));
    await waitAllTasksBlocked();
    assert.is(s.statistics().tasksWaitingSend, 2);
    n.cancelScope.cancel();
  });
  assert.is(s.statistics().tasksWaitingSend, 0);
  for (;;) {
    try {
      r.receiveNowait();
    } catch (error) {
      if (error instanceof WouldBlock) break;
      throw error;
    }
  }
  assert.is(s.statistics().currentBufferUsed, 0);
  await openNursery(async (n) => {
    n.startSoon(() => r.receive());
    await waitAllTasksBlocked();
    assert.is(s.statistics().tasksWaitingReceive, 1);
    n.cancelScope.cancel();
  });
  stats = s.statistics();
  assert.is(stats.tasksWaitingReceive, 0);
}));

test('test_channel_fairness', mock(async () => {
  let [s, r] = openMemoryChannel<number | null>(1);
  s.sendNowait(1);
  assert.is(r.receiveNowait(), 1);
  s.sendNowait(2);
  assert.is(r.receiveNowait(), 2);
  let result: number | null | undefined;
  await openNursery(async (n) => {
    n.startSoon(async () => { result = await r.receive(); });
    await waitAllTasksBlocked();
    s.sendNowait(2);
    // The value went to the waiting receiver: nobody can take it first.
    assert.throws(() => r.receiveNowait(), isA(WouldBlock));
  });
  assert.is(result, 2);

  [s, r] = openMemoryChannel<number | null>(1);
  s.sendNowait(1);
  assert.throws(() => s.sendNowait(null), isA(WouldBlock));
  await openNursery(async (n) => {
    n.startSoon(() => s.send(2));
    await waitAllTasksBlocked();
    assert.is(r.receiveNowait(), 1);
    assert.throws(() => s.sendNowait(3), isA(WouldBlock));
    assert.is(await r.receive(), 2);
  });
}));

test('test_unbuffered', mock(async () => {
  const [s, r] = openMemoryChannel<number>(0);
  assert.throws(() => r.receiveNowait(), isA(WouldBlock));
  assert.throws(() => s.sendNowait(1), isA(WouldBlock));
  await openNursery(async (n) => {
    n.startSoon(() => assertCheckpoints(() => s.send(1)));
    assert.is(await assertCheckpoints(() => r.receive()), 1);
  });
  assert.throws(() => r.receiveNowait(), isA(WouldBlock));
}));

test.run();
