import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  BrokenResourceError,
  Cancelled,
  ClosedResourceError,
  EndOfChannel,
  WouldBlock,
  currentTime,
  moveOnAfter,
  openMemoryChannel,
  openNursery,
  run,
  sleep,
  failAfter,
} from 'triode';
import { MockClock, assertCheckpoints, waitAllTasksBlocked } from 'triode/testing';
import { HANG_MS, mock, rejection } from '../../helpers.js';

test('openMemoryChannel validates maxBufferSize', () => {
  assert.throws(() => openMemoryChannel(-1), (e: Error) => e instanceof RangeError);
  assert.throws(() => openMemoryChannel(1.5), (e: Error) => e instanceof RangeError);
  assert.throws(() => openMemoryChannel(NaN), (e: Error) => e instanceof RangeError);
  assert.throws(() => openMemoryChannel('1' as unknown as number), (e: Error) => e instanceof TypeError);
  openMemoryChannel(0);
  openMemoryChannel(Infinity);
});

test('a buffered channel keeps order; send waits while full (backpressure)', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(2);
  const sent: number[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      for (let i = 0; i < 5; i++) { await tx.send(i); sent.push(i); }
    });
    await waitAllTasksBlocked();
    assert.equal(sent, [0, 1], 'two fit in the buffer, the third send waits');
    assert.is(tx.statistics().currentBufferUsed, 2);
    assert.is(tx.statistics().tasksWaitingSend, 1);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push(await rx.receive());
    assert.equal(got, [0, 1, 2, 3, 4]);
  });
}));

test('a rendezvous channel (size 0) makes send wait for a receiver', mock(async () => {
  const [tx, rx] = openMemoryChannel<string>(0);
  await openNursery(async (n) => {
    n.startSoon(async () => { await sleep(10); assert.is(await rx.receive(), 'hi'); });
    await tx.send('hi');
    assert.is(currentTime(), 10);
  });
  assert.throws(() => tx.sendNowait('x'), (e: Error) => e instanceof WouldBlock);
  assert.throws(() => rx.receiveNowait(), (e: Error) => e instanceof WouldBlock);
}));

test('an unbounded channel never blocks senders', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(Infinity);
  for (let i = 0; i < 10_000; i++) tx.sendNowait(i);
  assert.is(rx.statistics().currentBufferUsed, 10_000);
  assert.is(rx.receiveNowait(), 0);
}));

test('send and receive are checkpoints, also when they do not block', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(1);
  await assertCheckpoints(() => tx.send(1));
  await assertCheckpoints(() => rx.receive());
}));

test('last sender closed: receivers drain the buffer, then get EndOfChannel; for await ends', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(10);
  const tx2 = tx.clone();
  tx.sendNowait(1);
  tx2.sendNowait(2);
  tx.close();
  assert.is(rx.statistics().openSendChannels, 1);
  tx2.sendNowait(3);
  await tx2.aclose();
  const got: number[] = [];
  for await (const v of rx) got.push(v);
  assert.equal(got, [1, 2, 3]);
  assert.instance(await rejection(rx.receive()), EndOfChannel);
  assert.throws(() => rx.receiveNowait(), (e: Error) => e instanceof EndOfChannel);
}));

test('closing the last sender wakes blocked receivers with EndOfChannel', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(0);
  await openNursery(async (n) => {
    n.startSoon(async () => { assert.instance(await rejection(rx.receive()), EndOfChannel); });
    await waitAllTasksBlocked();
    tx.close();
  });
}));

test('last receiver closed: waiting and later senders get BrokenResourceError; the buffer is dropped', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(1);
  tx.sendNowait(1);
  await openNursery(async (n) => {
    n.startSoon(async () => { assert.instance(await rejection(tx.send(2)), BrokenResourceError); });
    await waitAllTasksBlocked();
    rx.close();
  });
  assert.is(tx.statistics().currentBufferUsed, 0);
  assert.instance(await rejection(tx.send(3)), BrokenResourceError);
  assert.throws(() => tx.sendNowait(3), (e: Error) => e instanceof BrokenResourceError);
}));

test('your own closed endpoint gives ClosedResourceError; close wakes its own blocked tasks; close is idempotent', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(0);
  const rx2 = rx.clone();
  const [otherTx, otherRx] = openMemoryChannel<number>(0);
  await openNursery(async (n) => {
    n.startSoon(async () => { assert.instance(await rejection(rx.receive()), ClosedResourceError); });
    n.startSoon(async () => { assert.instance(await rejection(otherTx.send(1)), ClosedResourceError); });
    await waitAllTasksBlocked();
    rx.close();
    rx.close();
    otherTx.close();
  });
  otherRx.close();
  tx.close();
  assert.instance(await rejection(rx.receive()), ClosedResourceError);
  assert.instance(await rejection(tx.send(1)), ClosedResourceError);
  assert.throws(() => rx.clone(), (e: Error) => e instanceof ClosedResourceError);
  assert.throws(() => tx.clone(), (e: Error) => e instanceof ClosedResourceError);
  assert.instance(await rejection(rx2.receive()), EndOfChannel);
}));

test('use() closes the endpoint when the block ends, also on error; dispose closes too', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(5);
  await tx.use(async (t) => { await t.send(1); });
  assert.is(rx.statistics().openSendChannels, 0);
  const [tx2, rx2] = openMemoryChannel<number>(5);
  await rejection(rx2.use(async () => { throw new Error('x'); }));
  assert.is(tx2.statistics().openReceiveChannels, 0);
  const [tx3] = openMemoryChannel<number>(5);
  tx3[Symbol.dispose]();
  assert.is(tx3.statistics().openSendChannels, 0);
  assert.is(await rx.receive(), 1);
}));

test('a cancelled receive consumes nothing: the value goes to the next receiver (the cancelled twin)', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(0);
  await openNursery(async (n) => {
    n.startSoon(async () => {
      assert.is(await moveOnAfter(5, () => rx.receive()), undefined);
    });
    await sleep(10);
    assert.is(rx.statistics().tasksWaitingReceive, 0);
    n.startSoon(async () => { assert.is(await rx.receive(), 42); });
    await tx.send(42);
  });
}));

test('a cancelled send delivers nothing (the cancelled twin)', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(0);
  assert.is(await moveOnAfter(5, () => tx.send(1)), undefined);
  assert.is(tx.statistics().tasksWaitingSend, 0);
  tx.close();
  assert.instance(await rejection(rx.receive()), EndOfChannel);
}));

test('a value handed to a receiver is kept even if it is cancelled before it runs', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(0);
  let got: number | undefined;
  await openNursery(async (n) => {
    n.startSoon(async () => {
      await moveOnAfter(10, async (scope) => {
        got = await rx.receive();
        assert.not.ok(scope.cancelCalled); // the nursery around it was cancelled, not this scope
      });
    });
    await waitAllTasksBlocked();
    tx.sendNowait(7); // hands 7 to the receiver (rescheduled, not yet running)
    n.cancelScope.deadline = currentTime(); // and cancel everything at once
  });
  assert.is(got, 7);
}));

test('waiting senders and receivers are served FIFO', mock(async () => {
  const [tx, rx] = openMemoryChannel<string>(0);
  const order: string[] = [];
  await openNursery(async (n) => {
    for (const name of ['r1', 'r2', 'r3']) {
      n.startSoon(async () => { order.push(`${name}:${await rx.receive()}`); });
      await waitAllTasksBlocked();
    }
    for (const v of ['a', 'b', 'c']) tx.sendNowait(v);
  });
  assert.equal(order, ['r1:a', 'r2:b', 'r3:c']);
  await openNursery(async (n) => {
    for (const v of ['x', 'y', 'z']) {
      n.startSoon(() => tx.send(v));
      await waitAllTasksBlocked();
    }
    assert.equal([await rx.receive(), await rx.receive(), await rx.receive()], ['x', 'y', 'z']);
  });
}));

test('statistics report every count', mock(async () => {
  const [tx, rx] = openMemoryChannel<number>(3);
  const rx2 = rx.clone();
  tx.sendNowait(1);
  assert.equal(tx.statistics(), {
    currentBufferUsed: 1,
    maxBufferSize: 3,
    openSendChannels: 1,
    openReceiveChannels: 2,
    tasksWaitingSend: 0,
    tasksWaitingReceive: 0,
  });
  rx2.close();
}));

// ---- property: every value is received exactly once, or reported as not sent --------------

interface ProducerSpec {
  sends: Array<{ timeout: number | null; pause: number }>;
  closeAfter: number | null;
}
interface ConsumerSpec {
  receives: Array<{ timeout: number | null; pause: number }>;
  closeAtEnd: boolean;
}

const step = fc.record({ timeout: fc.option(fc.integer({ min: 0, max: 4 })), pause: fc.integer({ min: 0, max: 3 }) });
const producer = fc.record({
  sends: fc.array(step, { maxLength: 8 }),
  closeAfter: fc.option(fc.integer({ min: 0, max: 8 })),
});
const consumer = fc.record({ receives: fc.array(step, { maxLength: 8 }), closeAtEnd: fc.boolean() });

async function channelProgram(
  size: number,
  producers: ProducerSpec[],
  consumers: ConsumerSpec[],
): Promise<void> {
  const [tx, rx] = openMemoryChannel<string>(size);
  const delivered = new Set<string>(); // sends that returned normally
  const received: string[] = [];
  await openNursery(async (n) => {
    await openNursery(async (workers) => {
      producers.forEach((spec, p) => {
        const myTx = tx.clone();
        workers.startSoon(async () => {
          for (let i = 0; i < spec.sends.length; i++) {
            if (spec.closeAfter === i) myTx.close();
            const { timeout, pause } = spec.sends[i]!;
            const value = `p${p}-${i}`;
            try {
              const op = async () => { await myTx.send(value); return true; };
              const ok = await moveOnAfter(timeout ?? 50, op);
              if (ok) delivered.add(value);
            } catch (error) {
              if (!(error instanceof ClosedResourceError)) throw error;
            }
            await sleep(pause);
          }
          myTx.close();
        });
      });
      consumers.forEach((spec) => {
        const myRx = rx.clone();
        workers.startSoon(async () => {
          for (const { timeout, pause } of spec.receives) {
            const op = () => myRx.receive();
            const value = timeout === null ? await moveOnAfter(50, op) : await moveOnAfter(timeout, op);
            if (value !== undefined) received.push(value);
            await sleep(pause);
          }
          if (spec.closeAtEnd) myRx.close();
        });
      });
    });
    n.cancelScope.cancel();
  });
  // Producers are done: close the original sender and drain what is left.
  tx.close();
  for await (const value of rx) received.push(value);
  assert.is(new Set(received).size, received.length, `a value was received twice: ${received}`);
  assert.equal([...received].sort(), [...delivered].sort(), 'received must equal the sends that returned');
}

test('property: random producers, consumers, clones, closes and cancellations lose and duplicate nothing', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(0, 1, 2, 5, Infinity),
      fc.array(producer, { minLength: 1, maxLength: 3 }),
      fc.array(consumer, { minLength: 0, maxLength: 3 }),
      async (size, producers, consumers) => {
        const clock = new MockClock({ autojumpThreshold: 0 });
        await run(() => failAfter(HANG_MS, () => channelProgram(size, producers, consumers)), { clock });
      },
    ),
    { numRuns: 150 },
  );
});

test('a Cancelled from a cancelled send is absorbed by its scope, not leaked', mock(async () => {
  const [tx] = openMemoryChannel<number>(0);
  const error = await rejection(failAfter(5, () => tx.send(1)));
  assert.not.instance(error, Cancelled);
  assert.is((error as Error).name, 'TooSlowError');
}));

test.run();
