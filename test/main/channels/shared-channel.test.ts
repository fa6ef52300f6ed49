import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  BrokenResourceError,
  BrokenWorkerError,
  CancelScope,
  ClosedResourceError,
  EndOfChannel,
  WorkerPool,
  WouldBlock,
  failAfter,
  moveOnAfter,
  openNursery,
  openSharedChannel,
  run,
  runInWorker,
  sleep,
} from 'triode';
import { waitAllTasksBlocked } from 'triode/testing';
import { mock, rejection, withPool } from '../../helpers.js';

const fixture = new URL('../../fixtures/worker-module.js', import.meta.url);

test('openSharedChannel validates capacityBytes', () => {
  assert.throws(() => openSharedChannel({ capacityBytes: 8 }), (e: Error) => e instanceof RangeError);
  assert.throws(() => openSharedChannel({ capacityBytes: 1.5 }), (e: Error) => e instanceof RangeError);
  assert.throws(() => openSharedChannel(null as never), (e: Error) => e instanceof TypeError);
  assert.throws(() => openSharedChannel({ capacityBytes: 2 ** 31 }), /at most 1073741824/);
  const [tx] = openSharedChannel({ capacityBytes: 60 });
  assert.is(tx.statistics().capacityBytes, 64, 'rounded up to a multiple of 8');
});

test('every kind of value round-trips, in order', mock(async () => {
  const [tx, rx] = openSharedChannel<unknown>({ capacityBytes: 4096 });
  const values: unknown[] = [
    new Uint8Array([1, 2, 3]),
    'héllo ✓',
    '',
    42,
    -0,
    NaN,
    Infinity,
    true,
    false,
    null,
    undefined,
    { a: [1, { b: 'c' }] },
    new Map([[1, new Date(5)]]),
  ];
  for (const v of values) await tx.send(v);
  const buffer = new Uint8Array([9, 8]).buffer;
  tx.sendNowait(buffer);
  // Float64Arrays travel raw: a view at an offset sends only its own elements.
  tx.sendNowait(new Float64Array([7, -0, NaN, 1 / 3, -Infinity]).subarray(1, 4));
  tx.sendNowait(new Float64Array(0));
  for (const v of values) assert.equal(await rx.receive(), v);
  const back = rx.receiveNowait() as ArrayBuffer;
  assert.instance(back, ArrayBuffer);
  assert.equal([...new Uint8Array(back)], [9, 8]);
  const floats = rx.receiveNowait() as Float64Array;
  assert.instance(floats, Float64Array);
  assert.is(floats.length, 3);
  assert.ok(Object.is(floats[0], -0) && Number.isNaN(floats[1]) && floats[2] === 1 / 3);
  assert.is(floats.buffer.byteLength, 24, 'a buffer of its own');
  assert.is((rx.receiveNowait() as Float64Array).length, 0);
}));

test('receiveBatch takes what is there (up to maxCount), in order; waits for one; ends with EndOfChannel', mock(async () => {
  const [tx, rx] = openSharedChannel<number | string>({ capacityBytes: 4096 });
  for (let i = 0; i < 10; i++) await tx.send(i % 2 ? i : `s${i}`);
  assert.equal(await rx.receiveBatch(4), ['s0', 1, 's2', 3]);
  assert.equal(await rx.receiveBatch(), ['s4', 5, 's6', 7, 's8', 9]);
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => assert.equal(await rx.receiveBatch(), ['late']));
    await waitAllTasksBlocked();
    await tx.send('late');
  });
  await tx.send('last');
  tx.close();
  assert.equal(await rx.receiveBatch(), ['last']);
  assert.instance(await rejection(rx.receiveBatch()), EndOfChannel);
  assert.instance(await rejection(rx.receiveBatch(0)), RangeError);
}));

test('receiveBatch across wrap-around, small and large frames mixed: every byte intact, values independent', mock(async () => {
  const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: 701 });
  const sent: Uint8Array[] = [];
  const got: Uint8Array[] = [];
  let next = 0;
  while (got.length < 400) {
    for (;;) {
      const length = (next * 37) % 250; // 0 … 249 bytes: both sides of the small/large cut
      const value = new Uint8Array(length).map((_, i) => (next + i) & 0xff);
      try {
        tx.sendNowait(value);
      } catch (error) {
        if (error instanceof WouldBlock) break;
        throw error;
      }
      sent.push(value);
      next++;
    }
    got.push(...(await rx.receiveBatch(7)));
  }
  got.forEach((value, i) => assert.equal(Array.from(value), Array.from(sent[i]!), `value ${i}`));
  got[0]!.fill(0xee);
  assert.equal(Array.from(got[1]!), Array.from(sent[1]!), 'values share no bytes');
}));

test('large values across wrap-around (the memcpy path), through receive, receiveBatch and receiveInto: every byte in place', mock(async () => {
  const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: 20_001 });
  const target = new Uint8Array(10_000);
  for (let next = 0; next < 120; next++) {
    const length = 1000 + ((next * 997) % 9000); // 1,000 … 9,999 bytes: both sides of the 2 KiB cut
    const value = new Uint8Array(length).map((_, i) => (next * 7 + i * 13) & 0xff);
    await tx.send(value);
    const way = next % 3;
    const got = way === 0 ? await rx.receive() : way === 1 ? (await rx.receiveBatch())[0]! : target.subarray(0, await rx.receiveInto(target));
    assert.ok(Buffer.from(got).equals(Buffer.from(value)), `value ${next} (${length} bytes, ${['receive', 'receiveBatch', 'receiveInto'][way]})`);
  }
}));

test('values taken one at a time after a look-ahead, then a batch, then one again: every value once, in order, and intact after later reads', mock(async () => {
  const [tx, rx] = openSharedChannel<unknown>({ capacityBytes: 4096 });
  const valueOf = (i: number): unknown => (i % 7 === 0 ? new Uint8Array([i, i + 1]) : i % 5 === 0 ? { i, s: `o${i}` } : i % 3 ? i : `s${i}`);
  for (let i = 0; i < 100; i++) tx.sendNowait(valueOf(i));
  const got: unknown[] = [];
  for (let i = 0; i < 9; i++) got.push(await rx.receive()); // the look-ahead grows past these
  got.push(...(await rx.receiveBatch(10)));
  got.push(rx.receiveNowait(), await rx.receive());
  tx.close();
  for await (const v of rx) got.push(v);
  // (Compared only now, after every later read reused the look-ahead's bytes.)
  assert.equal(got, Array.from({ length: 100 }, (_, i) => valueOf(i)));
}));

test('a receiver that looked ahead and then closes leaves those values to the other receivers, in order', mock(async () => {
  const [tx, a] = openSharedChannel<number>({ capacityBytes: 4096 });
  const b = a.clone();
  for (let i = 0; i < 100; i++) tx.sendNowait(i);
  const got: number[] = [];
  for (let i = 0; i < 10; i++) got.push(await a.receive());
  a.close();
  tx.close();
  for await (const v of b) got.push(v);
  assert.equal(got, Array.from({ length: 100 }, (_, i) => i));
}));

test('a look-ahead gone stale is never served, even when other reads brought the ring round to the same place', mock(async () => {
  // 4 frames of 16 bytes; read positions repeat every 128 bytes (8 frames).
  const [tx, a] = openSharedChannel<number>({ capacityBytes: 64 });
  const b = a.clone();
  let sent = 0;
  const fill = () => {
    while (tx.statistics().currentBufferUsed < 64) tx.sendNowait(sent++);
  };
  const got: number[] = [];
  fill();
  got.push(a.receiveNowait(), a.receiveNowait(), a.receiveNowait());
  fill();
  got.push(a.receiveNowait(), a.receiveNowait()); // a has looked at the two frames after these
  for (let i = 0; i < 8; i++) {
    fill();
    got.push(b.receiveNowait()); // 8 frames: the read position is back where a left it
  }
  fill();
  while (tx.statistics().currentBufferUsed > 0) got.push(a.receiveNowait());
  assert.equal([...got].sort((x, y) => x - y), Array.from({ length: sent }, (_, i) => i), 'every value once');
  assert.ok(got.slice(0, 5).every((v, i) => v === i) && got.slice(5, 13).every((v, i) => v === i + 5), 'each reader in ring order');
}));

test('a cancelled receiveBatch takes nothing', mock(async () => {
  const [tx, rx] = openSharedChannel<number>({ capacityBytes: 1024 });
  assert.is(await moveOnAfter(10, () => rx.receiveBatch()), undefined);
  await tx.send(1);
  await tx.send(2);
  assert.equal(await rx.receiveBatch(), [1, 2], 'both still there');
}));

test('a value larger than the ring is rejected with a RangeError that says the limit', mock(async () => {
  const [tx] = openSharedChannel<Uint8Array>({ capacityBytes: 64 });
  const error = (await rejection(tx.send(new Uint8Array(100)))) as Error;
  assert.instance(error, RangeError);
  assert.match(error.message, /100 bytes does not fit a ring of 64 bytes \(at most 56 bytes of payload\)/);
  assert.instance(await rejection(tx.send(new Uint8Array(57))), RangeError);
}));

test('a value of exactly the largest payload fills the ring and arrives whole', mock(async () => {
  const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: 64 });
  for (let round = 0; round < 3; round++) {
    await tx.send(new Uint8Array(56).fill(round + 1));
    assert.throws(() => tx.sendNowait(new Uint8Array(0)), (e: Error) => e instanceof WouldBlock, 'full');
    assert.equal(Array.from(await rx.receive()), new Array(56).fill(round + 1));
  }
}));

test('receiveInto copies the next value into the buffer it is given, and leaves what it refuses', mock(async () => {
  const [tx, rx] = openSharedChannel<Uint8Array | ArrayBuffer | string>({ capacityBytes: 4096 });
  const target = new Uint8Array(300);
  await tx.send(new Uint8Array([1, 2, 3]));
  await tx.send(new Uint8Array(300).fill(9)); // a large frame, exactly the target's size
  await tx.send(new Uint8Array([4, 5]).buffer);
  await tx.send('text');
  await tx.send(new Uint8Array(301));
  assert.is(await rx.receiveInto(target), 3);
  assert.equal(Array.from(target.subarray(0, 3)), [1, 2, 3]);
  assert.is(await rx.receiveInto(target), 300);
  assert.ok(target.every((byte) => byte === 9));
  assert.is(await rx.receiveInto(Buffer.alloc(2)), 2, 'an ArrayBuffer is bytes too; a Buffer is a target');
  const notBytes = (await rejection(rx.receiveInto(target))) as Error;
  assert.instance(notBytes, TypeError);
  assert.match(notBytes.message, /the next value is a string, not bytes/);
  assert.is(await rx.receive(), 'text', 'the refused value is still there');
  const tooLong = (await rejection(rx.receiveInto(target))) as Error;
  assert.instance(tooLong, RangeError);
  assert.match(tooLong.message, /301 bytes, more than the 300 of target/);
  assert.is(((await rx.receive()) as Uint8Array).byteLength, 301, 'the refused value is still there');
  assert.instance(await rejection(rx.receiveInto([] as never)), TypeError);
  tx.close();
  assert.instance(await rejection(rx.receiveInto(target)), EndOfChannel);
}));

test('a cancelled receiveInto takes nothing and leaves the buffer alone', mock(async () => {
  const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: 1024 });
  const target = new Uint8Array(8).fill(0xee);
  assert.is(await moveOnAfter(10, () => rx.receiveInto(target)), undefined);
  assert.ok(target.every((byte) => byte === 0xee));
  await tx.send(new Uint8Array([7]));
  assert.is(await rx.receiveInto(target), 1);
  assert.is(target[0], 7);
}));

test('backpressure: a sender stops when the ring is full (counted, not timed)', mock(async () => {
  const [tx, rx] = openSharedChannel<number>({ capacityBytes: 64 });
  let sent = 0;
  await openNursery(async (n) => {
    n.startSoon(async () => { for (let i = 0; i < 10; i++) { await tx.send(i); sent++; } });
    await waitAllTasksBlocked();
    assert.is(sent, 4, 'four 16-byte frames (8 of header, 8 of number) fit in 64 bytes; the fifth send waits');
    assert.throws(() => tx.sendNowait(99), (e: Error) => e instanceof WouldBlock);
    for (let i = 0; i < 10; i++) assert.is(await rx.receive(), i);
  });
  assert.throws(() => rx.receiveNowait(), (e: Error) => e instanceof WouldBlock);
}));

test('close rules: drain then EndOfChannel; no receivers → BrokenResourceError; own close → ClosedResourceError', mock(async () => {
  const [tx, rx] = openSharedChannel<number>({ capacityBytes: 256 });
  const tx2 = tx.clone();
  tx.sendNowait(1);
  tx.close();
  tx2.sendNowait(2);
  await tx2.aclose();
  const got: number[] = [];
  for await (const v of rx) got.push(v);
  assert.equal(got, [1, 2]);
  assert.instance(await rejection(rx.receive()), EndOfChannel);
  assert.instance(await rejection(tx.send(3)), ClosedResourceError);

  const [tx3, rx3] = openSharedChannel<number>({ capacityBytes: 32 });
  tx3.sendNowait(1);
  tx3.sendNowait(2);
  await openNursery(async (n) => {
    n.startSoon(async () => { assert.instance(await rejection(tx3.send(3)), BrokenResourceError); });
    await waitAllTasksBlocked();
    rx3.close();
  });
  assert.is(tx3.statistics().currentBufferUsed, 0, 'the buffer was dropped');
  assert.instance(await rejection(rx3.receive()), ClosedResourceError);
  assert.throws(() => rx3.clone(), (e: Error) => e instanceof ClosedResourceError);
}));

test('a cancelled receive takes nothing; a cancelled send sends nothing (the cancelled twins)', mock(async () => {
  const [tx, rx] = openSharedChannel<number>({ capacityBytes: 32 });
  assert.is(await moveOnAfter(5, () => rx.receive()), undefined);
  tx.sendNowait(7);
  assert.is(await rx.receive(), 7);
  tx.sendNowait(1);
  tx.sendNowait(2);
  assert.is(await moveOnAfter(5, () => tx.send(3)), undefined);
  assert.is(rx.receiveNowait(), 1);
  assert.is(rx.receiveNowait(), 2);
  assert.throws(() => rx.receiveNowait(), (e: Error) => e instanceof WouldBlock, 'the cancelled 3 was never sent');
}));

// ---- across threads ------------------------------------------------------------------------

test('worker → main: order kept, and the channel ends when the worker call ends', async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 128 });
    const got: number[] = [];
    await openNursery(async (n) => {
      n.startSoon(() => tx.use(() => runInWorker(fixture, 'produce', [tx, 2000], { pool })));
      for await (const v of rx) got.push(v);
    });
    assert.is(got.length, 2000);
    assert.ok(got.every((v, i) => v === i), 'in order');
  });
});

test('worker → main with receiveBatch: every value once, in order, across many batches', async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 256 });
    const got: number[] = [];
    let batches = 0;
    await openNursery(async (n) => {
      n.startSoon(() => tx.use(() => runInWorker(fixture, 'produce', [tx, 20_000], { pool })));
      try {
        for (;;) {
          got.push(...(await rx.receiveBatch(64)));
          batches++;
        }
      } catch (error) {
        if (!(error instanceof EndOfChannel)) throw error;
      }
    });
    assert.is(got.length, 20_000);
    assert.ok(got.every((v, i) => v === i), 'in order');
    assert.ok(batches >= 20_000 / 64, `batches of at most 64 (${batches} batches)`);
  });
});

test('sendBatchSync: batches larger than the ring arrive whole and in order; a blocked batch is cancellable', async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 200 }); // about 15 numbers
    const got: number[] = [];
    await openNursery(async (n) => {
      n.startSoon(() => tx.use(() => runInWorker(fixture, 'produceBatches', [tx, 5000, 100], { pool })));
      for await (const v of rx) got.push(v);
    });
    assert.is(got.length, 5000);
    assert.ok(got.every((v, i) => v === i), 'in order');

    const [tx2, rx2] = openSharedChannel<number>({ capacityBytes: 200 });
    assert.is(await moveOnAfter(50, () => runInWorker(fixture, 'produceBatches', [tx2, 1000, 1000], { pool })), undefined, 'cancelled while blocked');
    const first = await rx2.receiveBatch();
    assert.ok(first.length > 0 && first.every((v, i) => v === i), 'what was sent before is intact');
    tx2.close();
    rx2.close();
  });
  assert.throws(() => openSharedChannel<number>({ capacityBytes: 64 })[0].sendBatchSync([1]), /would block the main thread/);
});

test('main → worker, and an async export using send', async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 64 });
    const sum = await openNursery(async (n) => {
      let result = 0;
      n.startSoon(async () => { result = (await rx.use(() => runInWorker(fixture, 'consumeSum', [rx], { pool }))) as number; });
      for (let i = 1; i <= 500; i++) await tx.send(i);
      tx.close();
      return () => result;
    });
    assert.is(sum(), 125250);
    const [stx, srx] = openSharedChannel<string>({ capacityBytes: 64 });
    const got: string[] = [];
    await openNursery(async (n) => {
      n.startSoon(() => stx.use(() => runInWorker(fixture, 'produceAsync', [stx, 50], { pool })));
      for await (const v of srx) got.push(v);
    });
    assert.equal(got, Array.from({ length: 50 }, (_, i) => `item ${i}`));
  });
});

test('clones in two workers share the work; each value is handled once, in order per sender', async () => {
  await withPool(3, async (pool) => {
    const [inTx, inRx] = openSharedChannel<string>({ capacityBytes: 128 });
    const [outTx, outRx] = openSharedChannel<string>({ capacityBytes: 128 });
    const got: string[] = [];
    await openNursery(async (n) => {
      for (const name of ['A', 'B']) {
        const myIn = inRx.clone();
        const myOut = outTx.clone();
        n.startSoon(() => myIn.use(() => myOut.use(() => runInWorker(fixture, 'relay', [myIn, myOut, name], { pool }))));
      }
      inRx.close();
      outTx.close();
      n.startSoon(async () => {
        for (let i = 0; i < 300; i++) await inTx.send(String(i).padStart(3, '0'));
        inTx.close();
      });
      for await (const v of outRx) got.push(v);
    });
    assert.is(got.length, 300);
    assert.equal(got.map((v) => v.slice(2)).sort(), Array.from({ length: 300 }, (_, i) => String(i).padStart(3, '0')));
    for (const name of ['A', 'B']) {
      const mine = got.filter((v) => v.startsWith(name)).map((v) => Number(v.slice(2)));
      assert.ok(mine.every((v, i) => i === 0 || v > mine[i - 1]!), `${name} kept its order`);
    }
  });
});

test('BrokenResourceError crosses threads: the main side closes its receiver under a blocked worker', async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 32 });
    await openNursery(async (n) => {
      n.startSoon(async () => {
        const error = await rejection(tx.use(() => runInWorker(fixture, 'produce', [tx, 1_000_000], { pool })));
        assert.instance(error, BrokenResourceError);
      });
      await rx.receive();
      rx.close();
    });
  });
});

test("a killed worker's endpoints are closed: the reader is not left waiting", async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 64 });
    const got: number[] = [];
    await openNursery(async (n) => {
      n.startSoon(async () => {
        assert.instance(await rejection(tx.use(() => runInWorker(fixture, 'sendThenExit', [tx], { pool }))), BrokenWorkerError);
      });
      for await (const v of rx) got.push(v);
    });
    assert.equal(got, [1]);
  });
});

test("a worker killed by cancel: 'kill' has its endpoints closed too", async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 64 });
    const got: number[] = [];
    // No real-time window: the call is cancelled once its value arrived, however long the
    // thread took to start (the suite must pass with both cores busy).
    const call = new CancelScope();
    await openNursery(async (n) => {
      n.startSoon(async () => {
        await tx.use(() => call.run(() => runInWorker(fixture, 'sendThenSpin', [tx], { pool, cancel: 'kill', killAfterMs: 10 })));
      });
      for await (const v of rx) {
        got.push(v);
        call.cancel();
      }
    });
    assert.ok(call.cancelledCaught);
    assert.equal(got, [1], 'the reader got the value and then EndOfChannel, not a hang');
  });
});

test('a worker blocked on a full ring sends as soon as its value fits, though the consumer reads one value and then stops (a lazy sender waits a slice at most)', async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 256 }); // 16 frames of 16 bytes
    const [doneTx, doneRx] = openSharedChannel<string>({ capacityBytes: 64 });
    await failAfter(20_000, () =>
      openNursery(async (n) => {
        n.startSoon(() => runInWorker(fixture, 'produceThenSignal', [tx, doneTx, 17], { pool }));
        while (rx.statistics().currentBufferUsed < 256) await sleep(1);
        assert.is(await rx.receive(), 0);
        // 15 of 16 frames still there: no reader wakes a lazy sender now, but its value fits.
        assert.is(await doneRx.receive(), 'done');
        const rest: number[] = [];
        for (let i = 1; i < 17; i++) rest.push(await rx.receive());
        assert.equal(rest, Array.from({ length: 16 }, (_, i) => i + 1));
      }),
    );
  });
});

test('a cancelled sendSync in a worker (ring full, nobody reading) stops at once and closes its endpoint', async () => {
  await withPool(3, async (pool) => {
    await runInWorker(fixture, 'add', [0, 0], { pool }); // a warm thread: the call starts at once
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 32 });
    const t0 = performance.now();
    assert.is(await moveOnAfter(30, () => runInWorker(fixture, 'produce', [tx, 1_000_000], { pool })), undefined);
    assert.ok(performance.now() - t0 < 1000);
    assert.is(tx.statistics().openSendChannels, 1, "the worker's endpoint is closed again");
    assert.is(rx.receiveNowait(), 0, 'what it sent before the cancel is still there, in order');
  });
});

test('a cancelled receiveSync in a worker stops at once and closes its endpoint', async () => {
  await withPool(3, async (pool) => {
    const [, rx] = openSharedChannel<number>({ capacityBytes: 64 });
    const t0 = performance.now();
    assert.is(await moveOnAfter(30, () => runInWorker(fixture, 'receiveForever', [rx], { pool })), undefined);
    assert.ok(performance.now() - t0 < 1000);
    assert.is(rx.statistics().openReceiveChannels, 1, "the worker's endpoint is closed again");
  });
});

test('receiveIntoSync in a worker: large chunks into one buffer, every byte intact; its cancelled twin stops at once', async () => {
  await withPool(3, async (pool) => {
    const [tx, rx] = openSharedChannel<Uint8Array>({ capacityBytes: 200_000 });
    let expected = 0;
    await openNursery(async (n) => {
      n.startSoon(() => rx.use(() => runInWorker(fixture, 'sumBytesInto', [rx, 65_536], { pool })).then((sum) => assert.is(sum, expected)));
      await tx.use(async () => {
        for (let i = 0; i < 40; i++) {
          const chunk = new Uint8Array(65_536 - i).map((_, j) => (i + j) & 0xff);
          expected += chunk.reduce((a, b) => a + b, 0);
          await tx.send(chunk);
        }
      });
    });
    const [, idle] = openSharedChannel<Uint8Array>({ capacityBytes: 64 });
    const t0 = performance.now();
    assert.is(await moveOnAfter(30, () => runInWorker(fixture, 'sumBytesInto', [idle, 16], { pool })), undefined);
    assert.ok(performance.now() - t0 < 1000);
    assert.is(idle.statistics().openReceiveChannels, 1, "the worker's endpoint is closed again");
  });
});

test('a lock left held by a thread that died is taken back: the channel keeps working on both sides', async () => {
  await run(async () => {
    const [tx, rx] = openSharedChannel<number>({ capacityBytes: 64 });
    // White box: both locks held by an identity no live thread has, as a thread killed in the
    // middle of a send and of a receive would leave them (words 1 and 17: see src/shared/ring.ts).
    const header = (tx as unknown as { ring: { header: Int32Array } }).ring.header;
    Atomics.store(header, 1, 987_654);
    Atomics.store(header, 17, 987_654);
    await tx.send(1);
    assert.is(await rx.receive(), 1);
    assert.is(Atomics.load(header, 1), 0, 'the write lock is free again');
    assert.is(Atomics.load(header, 17), 0, 'the read lock is free again');
  });
});

test('sync endpoints refuse to block the main thread', mock(async () => {
  const [tx, rx] = openSharedChannel<number>({ capacityBytes: 64 });
  assert.throws(() => tx.sendSync(1), /would block the main thread/);
  assert.throws(() => rx.receiveSync(), /would block the main thread/);
  assert.throws(() => rx.receiveIntoSync(new Uint8Array(1)), /would block the main thread/);
}));

test('property: two worker producers (values one by one or in batches), main receives one or a batch at a time with random cancellations; every value once, in order per producer', async () => {
  const pool = new WorkerPool({ maxThreads: 2 });
  const B = 1_000_000; // producer B's values start here, so each producer's order can be checked
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 16, max: 256 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        // Timeouts of at least 1 ms: a loop of receives that are all cancelled on entry would
        // never receive anything (nor reach EndOfChannel), by construction.
        fc.array(fc.record({ timeout: fc.option(fc.integer({ min: 1, max: 3 })), batch: fc.option(fc.integer({ min: 1, max: 5 })) }), {
          minLength: 1,
          maxLength: 20,
        }),
        async (capacityBytes, countA, countB, batchA, batchB, steps) => {
          await run(async () => {
            const [tx, rx] = openSharedChannel<number>({ capacityBytes });
            const got: number[] = [];
            await openNursery(async (n) => {
              const txA = tx.clone();
              n.startSoon(() => txA.use(() => runInWorker(fixture, 'produceFrom', [txA, 0, countA, batchA], { pool })));
              n.startSoon(() => tx.use(() => runInWorker(fixture, 'produceFrom', [tx, B, countB, batchB], { pool })));
              let i = 0;
              for (;;) {
                const { timeout, batch } = steps[i++ % steps.length]!;
                try {
                  const op = async () => (batch === null ? [await rx.receive()] : await rx.receiveBatch(batch));
                  const values = timeout === null ? await op() : await moveOnAfter(timeout, op);
                  if (values !== undefined) got.push(...values);
                } catch (error) {
                  if (error instanceof EndOfChannel) break;
                  throw error;
                }
              }
            });
            assert.equal(got.filter((v) => v < B), Array.from({ length: countA }, (_, i) => i), "producer A's values, once each, in order");
            assert.equal(got.filter((v) => v >= B), Array.from({ length: countB }, (_, i) => B + i), "producer B's values, once each, in order");
          });
        },
      ),
      { numRuns: 25 },
    );
  } finally {
    await pool.close();
  }
});

test.run();
