// The in-memory stream pairs of triode/testing, and the conformance checks run against them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BrokenResourceError, ClosedResourceError, StapledStream, WouldBlock, acloseForcefully, openNursery } from 'triode';
import {
  MemoryReceiveStream,
  MemorySendStream,
  checkHalfCloseableStream,
  checkOneWayStream,
  lockstepStreamOneWayPair,
  lockstepStreamPair,
  memoryStreamOneWayPair,
  memoryStreamPair,
  memoryStreamPump,
  waitAllTasksBlocked,
} from 'triode/testing';
import { mock, rejection } from '../../helpers.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

test('memory one-way pairs pass checkOneWayStream', mock(async () => {
  await checkOneWayStream(async () => memoryStreamOneWayPair());
}));

test('memory pairs pass checkHalfCloseableStream', mock(async () => {
  await checkHalfCloseableStream(async () => memoryStreamPair());
}));

test('lockstep pairs pass every check, clogged ones included', mock(async () => {
  await checkOneWayStream(async () => lockstepStreamOneWayPair(), async () => lockstepStreamOneWayPair());
  await checkHalfCloseableStream(async () => lockstepStreamPair(), async () => lockstepStreamPair());
}));

test('a lockstep sendAll returns only once the receiver took every byte', mock(async () => {
  const [send, receive] = lockstepStreamOneWayPair();
  let sent = false;
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      await send.sendAll(bytes('hello'));
      sent = true;
    });
    await waitAllTasksBlocked();
    assert.not.ok(sent, 'blocked: nobody received yet');
    assert.is(text(await receive.receiveSome(3)), 'hel');
    await waitAllTasksBlocked();
    assert.not.ok(sent, 'blocked: two bytes left');
    assert.is(text(await receive.receiveSome()), 'lo');
  });
  assert.ok(sent);
}));

test('the checks catch a broken stream: one that drops the last byte of each chunk', mock(async () => {
  class Lossy extends MemoryReceiveStream {
    override async receiveSome(maxBytes?: number): Promise<Uint8Array> {
      const chunk = await super.receiveSome(maxBytes);
      return chunk.length > 1 ? chunk.subarray(0, chunk.length - 1) : chunk;
    }
  }
  const error = await rejection(
    checkOneWayStream(async () => {
      const send = new MemorySendStream();
      const receive = new Lossy();
      send.sendAllHook = () => {
        memoryStreamPump(send, receive);
      };
      send.closeHook = () => receive.putEof();
      return [send, receive];
    }),
  );
  assert.instance(error, Error);
  assert.match((error as Error).message, /stream check failed/);
}));

test('hand-driven memory streams: getData, getDataNowait, putData, putEof, pump into a closed receiver', mock(async () => {
  const send = new MemorySendStream();
  await send.sendAll(bytes('abc'));
  assert.is(text(send.getDataNowait(2)), 'ab');
  assert.is(text(await send.getData()), 'c');
  assert.throws(() => send.getDataNowait(), (e: unknown) => e instanceof WouldBlock);
  const receive = new MemoryReceiveStream();
  receive.putData(bytes('xy'));
  receive.putEof();
  assert.is(text(await receive.receiveSome()), 'xy');
  assert.is((await receive.receiveSome()).length, 0);

  const [s, r] = memoryStreamOneWayPair();
  await r.aclose();
  assert.instance(await rejection(s.sendAll(bytes('lost'))), BrokenResourceError);
  await acloseForcefully(s);
  assert.instance(await rejection(s.sendAll(bytes('x'))), ClosedResourceError);
}));

test('StapledStream checks its arguments and sends EOF by closing a send stream without sendEof', mock(async () => {
  assert.throws(() => new StapledStream({} as never, new MemoryReceiveStream()), /sendStream must be a SendStream/);
  const [s, r] = memoryStreamOneWayPair();
  const stapled = new StapledStream(s, new MemoryReceiveStream());
  await stapled.sendAll(bytes('q'));
  await stapled.sendEof();
  assert.is(text(await r.receiveSome()), 'q');
  assert.is((await r.receiveSome()).length, 0);
  await stapled.aclose();
}));

test.run();
