// Signals sent to the test process itself (real time, 10x slack).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { moveOnAfter, openSignalReceiver, run, sleep } from 'triode';
import { rejection } from '../../helpers.js';

test('a signal sent to the process reaches the receiver; the listener is gone afterwards', async () => {
  const before = process.listenerCount('SIGUSR1');
  await run(async () => {
    await openSignalReceiver(['SIGUSR1'], async (receiver) => {
      assert.is(process.listenerCount('SIGUSR1'), before + 1);
      process.kill(process.pid, 'SIGUSR1');
      const got = await moveOnAfter(2000, () => receiver.receive());
      assert.is(got, 'SIGUSR1');
    });
  });
  assert.is(process.listenerCount('SIGUSR1'), before);
});

test('repeats of a pending signal coalesce; order is kept; a cancelled receive takes nothing', async () => {
  await run(async () => {
    await openSignalReceiver(['SIGUSR1', 'SIGUSR2'], async (receiver) => {
      process.kill(process.pid, 'SIGUSR1');
      process.kill(process.pid, 'SIGUSR1');
      await sleep(50);
      process.kill(process.pid, 'SIGUSR2');
      process.kill(process.pid, 'SIGUSR1');
      await sleep(50);
      const got: string[] = [];
      for await (const signal of receiver) {
        got.push(signal);
        if (got.length === 2) break;
      }
      assert.equal(got, ['SIGUSR1', 'SIGUSR2']);
      assert.is(await moveOnAfter(20, () => receiver.receive()), undefined, 'nothing else was pending');
      process.kill(process.pid, 'SIGUSR2');
      assert.is(await moveOnAfter(2000, () => receiver.receive()), 'SIGUSR2', 'the cancelled receive lost nothing');
    });
  });
});

test('inside a SIGINT receiver, Ctrl-C goes to the receiver and the run is not cancelled', async () => {
  const result = await run(async () => {
    const signal = await openSignalReceiver(['SIGINT'], async (receiver) => {
      process.kill(process.pid, 'SIGINT');
      return moveOnAfter(2000, () => receiver.receive());
    });
    await sleep(1); // still running: not cancelled
    return signal;
  });
  assert.is(result, 'SIGINT');
});

test('bad arguments are rejected', async () => {
  await run(async () => {
    assert.instance(await rejection(openSignalReceiver([], async () => {})), TypeError);
    assert.instance(await rejection(openSignalReceiver(['HUP' as NodeJS.Signals], async () => {})), TypeError);
    assert.instance(await rejection(openSignalReceiver(['SIGUSR1'], 5 as never)), TypeError);
  });
});

test.run();
