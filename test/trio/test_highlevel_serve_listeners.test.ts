/**
 * Trio's `_tests/test_highlevel_serve_listeners.py`, translated case by case (names kept), with
 * its in-memory listener. Trio logs a capacity error and retries; triode hands it to
 * `onAcceptError` (default: `console.error`) and retries, so the count is taken there.
 *
 * Not carried over: nothing (the `caplog` assertions become `onAcceptError` calls).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  currentEffectiveDeadline,
  ExceptionGroup,
  lowlevel,
  moveOnAfter,
  openMemoryChannel,
  openNursery,
  serveListeners,
  sleep,
  type Listener,
  type Nursery,
  type TaskStatus,
} from 'triode';
import { memoryStreamPair, waitAllTasksBlocked, type MemoryStapledStream } from 'triode/testing';
import { mock, rejection } from '../helpers.js';

class MemoryListener implements Listener<MemoryStapledStream> {
  closed = false;
  readonly acceptedStreams: MemoryStapledStream[] = [];
  private readonly queued = openMemoryChannel<MemoryStapledStream>(1);
  acceptHook: (() => Promise<unknown>) | undefined;

  async connect(): Promise<MemoryStapledStream> {
    assert.not.ok(this.closed);
    const [client, server] = memoryStreamPair();
    await this.queued[0].send(server);
    return client;
  }

  async accept(): Promise<MemoryStapledStream> {
    await lowlevel.cancelShieldedCheckpoint();
    assert.not.ok(this.closed);
    if (this.acceptHook !== undefined) await this.acceptHook();
    const stream = await this.queued[1].receive();
    this.acceptedStreams.push(stream);
    return stream;
  }

  async aclose(): Promise<void> {
    this.closed = true;
    await lowlevel.cancelShieldedCheckpoint();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

const leaves = (error: unknown): unknown[] => (error instanceof ExceptionGroup ? error.exceptions.flatMap(leaves) : [error]);
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

test('test_serve_listeners_basic', mock(async () => {
  const listeners = [new MemoryListener(), new MemoryListener()];
  const record: string[] = [];
  const closeHook = () => {
    // The handler's stream is closed forcefully: inside an already-cancelled scope.
    assert.is(currentEffectiveDeadline(), -Infinity);
    record.push('closed');
  };
  const handler = async (stream: MemoryStapledStream) => {
    await stream.sendAll(bytes('123'));
    assert.is(text(await stream.receiveSome(10)), '456');
    stream.sendStream.closeHook = closeHook;
    stream.receiveStream.closeHook = closeHook;
  };
  const client = async (listener: MemoryListener) => {
    const s = await listener.connect();
    assert.is(text(await s.receiveSome(10)), '123');
    await s.sendAll(bytes('456'));
  };
  await openNursery(async (nursery) => {
    const value = await nursery.start(serveListeners<MemoryStapledStream, MemoryListener>, handler, listeners);
    assert.equal(value, listeners);
    nursery.startSoon(async () => {
      await openNursery(async (clients) => {
        for (const listener of listeners) for (let i = 0; i < 3; i++) clients.startSoon(client, listener);
      });
      await waitAllTasksBlocked();
      assert.is(record.length, 12);
      nursery.cancelScope.cancel();
    });
  });
  for (const listener of listeners) assert.ok(listener.closed);
}));

test('test_serve_listeners_accept_unrecognized_error', mock(async () => {
  const econnaborted = Object.assign(new Error('ECONNABORTED'), { code: 'ECONNABORTED' });
  for (const error of [new RangeError('KeyError'), econnaborted]) {
    const listener = new MemoryListener();
    listener.acceptHook = async () => { throw error; };
    const caught = await rejection(serveListeners(() => {}, [listener]));
    assert.equal(leaves(caught), [error]);
  }
}));

test('test_serve_listeners_accept_capacity_error', mock(async () => {
  const listener = new MemoryListener();
  listener.acceptHook = async () => { throw Object.assign(new Error('out of file descriptors'), { code: 'EMFILE' }); };
  const reported: Error[] = [];
  await moveOnAfter(950, () => serveListeners(() => {}, [listener], { onAcceptError: (error) => reported.push(error) }));
  // One report and a 100 ms wait per attempt: 10 attempts in 950 ms.
  assert.is(reported.length, 10);
  for (const error of reported) assert.is((error as NodeJS.ErrnoException).code, 'EMFILE');
}));

test('test_serve_listeners_connection_nursery', mock(async () => {
  const listener = new MemoryListener();
  class Done extends Error {}
  const connectionWatcher = async (taskStatus: TaskStatus<Nursery>) => {
    await openNursery(async (nursery) => {
      taskStatus.started(nursery);
      await waitAllTasksBlocked();
      assert.is(nursery.childTasks.length, 10);
      throw new Done();
    });
  };
  const error = await rejection(openNursery(async (nursery) => {
    const handlerNursery = await nursery.start(connectionWatcher);
    await nursery.start(
      (status: TaskStatus<MemoryListener[]>) => serveListeners(() => sleep(1000), [listener], { handlerNursery }, status),
    );
    for (let i = 0; i < 10; i++) nursery.startSoon(() => listener.connect());
  }));
  assert.ok(leaves(error).some((e) => e instanceof Done));
}));

test.run();
