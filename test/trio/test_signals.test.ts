/**
 * Trio's `_tests/test_signals.py`, translated case by case (names kept). Node reserves SIGUSR1
 * for its inspector and ends the process on SIGILL/SIGFPE raised by `process.kill` only when no
 * listener is there, so SIGUSR2 and SIGWINCH stand in for SIGILL and SIGFPE. Signals come from
 * outside the run: these tests run on the real clock, under `failAfter`.
 *
 * Not carried over, and why:
 * - test_catch_signals_wrong_thread: Node delivers signals to the main thread's event loop only;
 *   a run in a worker thread never installs process signal listeners.
 * - test_catch_signals_race_condition_on_exit: Trio re-delivers signals still pending at the end
 *   of the block to the previous Python handler; Node has no previous handler to hand them to
 *   (listeners are additive), so pending signals end with the block.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BusyResourceError, ExceptionGroup, failAfter, moveOnAfter, openNursery, openSignalReceiver, run, sleep } from 'triode';
import { rejection } from '../helpers.js';

const real = (fn: () => Promise<void>) => () => run(() => failAfter(30_000, fn));
const raise = (signal: NodeJS.Signals) => process.kill(process.pid, signal);
const leaves = (error: unknown): unknown[] => (error instanceof ExceptionGroup ? error.exceptions.flatMap(leaves) : [error]);

/** Nothing more is pending: a receive does not complete within `ms` (an absence, so any real time works). */
async function nothingPending(receiver: { receive(): Promise<unknown> }, ms = 50): Promise<void> {
  assert.is(await moveOnAfter(ms, () => receiver.receive()), undefined);
}

test('test_open_signal_receiver', real(async () => {
  const listenersBefore = process.listenerCount('SIGUSR2');
  let saved: { receive(): Promise<unknown> } | undefined;
  await openSignalReceiver(['SIGUSR2'], async (receiver) => {
    saved = receiver;
    raise('SIGUSR2');
    raise('SIGUSR2');
    raise('SIGUSR2');
    await sleep(200); // all three delivered (the listener runs on the event loop) before receiving
    for await (const signal of receiver) {
      assert.is(signal, 'SIGUSR2');
      break;
    }
    await nothingPending(receiver); // the repeats coalesced
    raise('SIGUSR2');
    for await (const signal of receiver) {
      assert.is(signal, 'SIGUSR2');
      break;
    }
    await nothingPending(receiver);
  });
  assert.ok(await rejection(saved!.receive()), 'receiving after the block raises');
  assert.is(process.listenerCount('SIGUSR2'), listenersBefore);
}));

test('test_open_signal_receiver_restore_handler_after_one_bad_signal', real(async () => {
  const listenersBefore = process.listenerCount('SIGUSR2');
  const error = await rejection(openSignalReceiver(['SIGUSR2', 'SIGNOTREAL' as NodeJS.Signals], () => {}));
  assert.instance(error, TypeError);
  assert.match((error as Error).message, /SIGNOTREAL/);
  assert.is(process.listenerCount('SIGUSR2'), listenersBefore);
}));

test('test_open_signal_receiver_empty_fail', real(async () => {
  assert.instance(await rejection(openSignalReceiver([], () => {})), TypeError);
}));

test('test_open_signal_receiver_restore_handler_after_duplicate_signal', real(async () => {
  const listenersBefore = process.listenerCount('SIGUSR2');
  await openSignalReceiver(['SIGUSR2', 'SIGUSR2'], () => {});
  assert.is(process.listenerCount('SIGUSR2'), listenersBefore);
}));

test('test_open_signal_receiver_conflict', real(async () => {
  const error = await rejection(openSignalReceiver(['SIGUSR2'], (receiver) =>
    openNursery(async (nursery) => {
      nursery.startSoon(() => receiver.receive());
      nursery.startSoon(() => receiver.receive());
    }),
  ));
  assert.ok(leaves(error).some((e) => e instanceof BusyResourceError), String(error));
}));

test('test_open_signal_receiver_no_starvation', real(async () => {
  await openSignalReceiver(['SIGUSR2', 'SIGWINCH'], async (receiver) => {
    let previous: NodeJS.Signals | undefined;
    for (let i = 0; i < 10; i++) {
      raise('SIGUSR2');
      raise('SIGWINCH');
      const got = await receiver.receive();
      assert.ok(got === 'SIGUSR2' || got === 'SIGWINCH');
      if (previous !== undefined) assert.is.not(got, previous, 'neither signal starves the other');
      previous = got;
    }
  });
}));

test.run();
