/**
 * The checkpoint rule, API-wide, built from the export lists: every exported async function and
 * every async method of an exported class is a checkpoint — it raises `Cancelled` when entered
 * in a cancelled scope, and otherwise lets other tasks run even when it has nothing to wait for.
 *
 * Each export is in exactly one table below; an export in none fails the first test, so a new
 * export cannot skip the rule. The kinds:
 * - `checkpoint`: called with arguments that do not block, it must pass a cancel point and a
 *   schedule point (`assertCheckpoints`), and its cancelled twin must raise `Cancelled` without
 *   doing anything;
 * - `cancelled`: it always waits (I/O, another thread, a peer): only the cancelled twin runs;
 * - `body`: it runs the caller's function (a scope, a nursery, a run): it checkpoints exactly
 *   where its body does, as Trio's `with` blocks;
 * - `sync`: not async (returns a value, not a promise);
 * - anything else is a string saying why the rule does not apply.
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as triode from 'triode';
import * as testing from 'triode/testing';
import { Cancelled, CancelScope } from 'triode';
import { mock, rejection } from '../../helpers.js';

/** `real`: waits for something outside the run (a child process), so it runs on the real clock. */
type Case = { kind: 'checkpoint' | 'cancelled'; call: () => Promise<unknown>; cleanup?: (value: unknown) => Promise<void> | void; real?: boolean };
type Entry = Case | 'body' | 'sync' | { reason: string };

const tmp = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'triode-api-'));
fs.writeFileSync(nodePath.join(tmp, 'file.txt'), 'text');
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const checkpointCase = (call: () => Promise<unknown>, cleanup?: Case['cleanup']): Case => ({ kind: 'checkpoint', call, ...(cleanup ? { cleanup } : {}) });
const cancelledCase = (call: () => Promise<unknown>): Case => ({ kind: 'cancelled', call });
const closeAll = async (value: unknown) => {
  for (const r of Array.isArray(value) ? value : [value]) await (r as { aclose(): Promise<void> }).aclose();
};

const functions: Record<string, Entry> = {
  // triode
  abandonOnCancel: checkpointCase(() => triode.abandonOnCancel(Promise.resolve(1))),
  acloseForcefully: checkpointCase(() => triode.acloseForcefully({ aclose: async () => {} })),
  checkpoint: checkpointCase(() => triode.checkpoint()),
  checkpointIfCancelled: { reason: 'a cancel point by definition, not a schedule point (Trio checkpoint_if_cancelled); tested for the cancel point in test_run' },
  cancelShieldedCheckpoint: { reason: 'a schedule point by definition, not a cancel point (Trio cancel_shielded_checkpoint)' },
  sleep: checkpointCase(() => triode.sleep(0)),
  sleepUntil: checkpointCase(() => triode.sleepUntil(-Infinity)),
  sleepForever: cancelledCase(() => triode.sleepForever()),
  failAfter: 'body',
  failAt: 'body',
  moveOnAfter: 'body',
  moveOnAt: 'body',
  openNursery: 'body',
  openWorkerPool: 'body',
  openSignalReceiver: 'body',
  run: { reason: 'starts a run; there is nothing around it to cancel' },
  openFile: checkpointCase(() => triode.openFile(nodePath.join(tmp, 'file.txt')), closeAll),
  openTcpListeners: checkpointCase(() => triode.openTcpListeners(0, { host: '127.0.0.1' }), closeAll),
  openTcpStream: cancelledCase(() => triode.openTcpStream('127.0.0.1', 1)),
  openTlsOverTcpStream: cancelledCase(() => triode.openTlsOverTcpStream('127.0.0.1', 1)),
  openUnixListener: checkpointCase(() => triode.openUnixListener(nodePath.join(tmp, `s${Math.random()}`)), closeAll),
  openUnixSocket: cancelledCase(() => triode.openUnixSocket(nodePath.join(tmp, 'missing.sock'))),
  runInWorker: cancelledCase(() => triode.runInWorker(new URL('../../fixtures/worker-module.js', import.meta.url), 'add', [1, 2])),
  mapInWorkers: cancelledCase(() => triode.mapInWorkers([1], new URL('../../fixtures/worker-module.js', import.meta.url), 'double').next()),
  runProcess: cancelledCase(() => triode.runProcess(['true'])),
  serveListeners: cancelledCase(() => triode.serveListeners(() => {}, [])),
  serveTcp: cancelledCase(() => triode.serveTcp(() => {}, 0, { host: '127.0.0.1' })),
  serveTlsOverTcp: cancelledCase(() => triode.serveTlsOverTcp(() => {}, 0, {}, { host: '127.0.0.1' })),
  serveUnix: cancelledCase(() => triode.serveUnix(() => {}, nodePath.join(tmp, 'serve.sock'))),
  currentAbortSignal: 'sync',
  currentEffectiveDeadline: 'sync',
  currentTime: 'sync',
  dumpTaskTree: 'sync',
  openMemoryChannel: 'sync',
  openSharedChannel: 'sync',
  workerCallback: 'sync',
  workerModule: 'sync',
  wrapFile: 'sync',
  // lowlevel
  waitTaskRescheduled: cancelledCase(() => triode.lowlevel.waitTaskRescheduled(() => triode.lowlevel.Abort.SUCCEEDED)),
  waitForEvent: cancelledCase(() => triode.lowlevel.waitForEvent(new EventEmitter(), 'never')),
  happyEyeballs: cancelledCase(() => triode.lowlevel.happyEyeballs([1], async () => ({ aclose: async () => {} }), 0, 'x')),
  openProcess: {
    ...checkpointCase(() => triode.lowlevel.openProcess(['true'], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' }), async (p) => { await (p as triode.Process).wait(); }),
    real: true,
  },
  reschedule: 'sync',
  currentTask: 'sync',
  currentRootTask: 'sync',
  spawnSystemTask: 'sync',
  addInstrument: 'sync',
  removeInstrument: 'sync',
  currentStatistics: 'sync',
  currentTrioToken: 'sync',
  // triode/testing
  waitAllTasksBlocked: checkpointCase(() => testing.waitAllTasksBlocked()),
  assertCheckpoints: 'body',
  assertNoCheckpoints: 'body',
  checkOneWayStream: 'body',
  checkTwoWayStream: 'body',
  checkHalfCloseableStream: 'body',
  memoryStreamPair: 'sync',
  memoryStreamOneWayPair: 'sync',
  lockstepStreamPair: 'sync',
  lockstepStreamOneWayPair: 'sync',
  memoryStreamPump: { reason: 'moves bytes between two memory streams as a hook; a checkpoint through getData/putData' },
};

/** Async methods of exported classes (their AsyncFunction methods, found by reflection). */
const methods: Record<string, Record<string, Entry | { reason: string }>> = {
  Path: {
    readText: checkpointCase(() => new triode.Path(tmp, 'file.txt').readText()),
    mkdir: checkpointCase(() => new triode.Path(tmp, 'made').mkdir({ recursive: true })),
    iterdir: checkpointCase(() => new triode.Path(tmp).iterdir()),
    glob: checkpointCase(() => new triode.Path(tmp).glob('*.txt')),
    rename: checkpointCase(async () => {
      await fs.promises.writeFile(nodePath.join(tmp, 'from.txt'), 'x');
      return new triode.Path(tmp, 'from.txt').rename(nodePath.join(tmp, 'to.txt'));
    }),
    unlink: checkpointCase(() => new triode.Path(tmp, 'gone.txt').unlink({ missingOk: true })),
    rmdir: checkpointCase(async () => {
      await fs.promises.mkdir(nodePath.join(tmp, 'rmdir'), { recursive: true });
      return new triode.Path(tmp, 'rmdir').rmdir();
    }),
    rm: checkpointCase(() => new triode.Path(tmp, 'nothing').rm({ force: true })),
    resolve: checkpointCase(() => new triode.Path(tmp).resolve()),
    open: checkpointCase(() => new triode.Path(tmp, 'file.txt').open(), closeAll),
  },
  Event: {
    wait: checkpointCase(async () => {
      const event = new triode.Event();
      event.set();
      return event.wait();
    }),
  },
  Lock: { acquire: checkpointCase(() => new triode.Lock().acquire()) },
  Semaphore: { acquire: checkpointCase(() => new triode.Semaphore(1).acquire()) },
  CapacityLimiter: {
    acquireOnBehalfOf: checkpointCase(() => new triode.CapacityLimiter(1).acquireOnBehalfOf({})),
    use: checkpointCase(() => new triode.CapacityLimiter(1).use(() => 1)),
  },
  Condition: { wait: cancelledCase(async () => {
    const condition = new triode.Condition();
    await condition.acquire();
    return condition.wait();
  }) },
  ParkingLot: { park: cancelledCase(() => new triode.lowlevel.ParkingLot().park()) },
  MemorySendChannel: { send: checkpointCase(() => triode.openMemoryChannel<number>(1)[0].send(1)) },
  MemoryReceiveChannel: {
    receive: checkpointCase(async () => {
      const [send, receive] = triode.openMemoryChannel<number>(1);
      send.sendNowait(1);
      return receive.receive();
    }),
    next: checkpointCase(async () => {
      // `for await` steps through the private next(): its first step is the checkpoint.
      const [send, receive] = triode.openMemoryChannel<number>(1);
      send.sendNowait(1);
      return receive[Symbol.asyncIterator]().next();
    }),
  },
  Nursery: {
    start: { reason: 'runs the caller’s function until it calls started(); tested in test_run (test_nursery_start)' },
    waitForChildren: { reason: '@internal' },
  },
  CancelScope: { runIn: { reason: '@internal (run is the public face: a body)' } },
  Sequencer: { block: { reason: 'runs a body at its position; covered by the Sequencer tests' } },
  WorkerPool: { close: { reason: 'closing a pool is a cleanup that completes when cancelled (as aclose)' } },
  // Streams: the conformance checks (checkOneWayStream, checkTwoWayStream,
  // checkHalfCloseableStream) assert the checkpoint rule on every stream method, for every
  // stream class below, in test/main/streams.
  ...Object.fromEntries(
    ['AsyncFile', 'Process', 'SharedReceiveChannel', 'SharedSendChannel', 'SignalReceiver', 'SocketListener', 'SocketStream',
      'StapledStream', 'TLSListener', 'TLSStream', 'LockstepReceiveStream', 'LockstepSendStream', 'MemoryReceiveStream', 'MemorySendStream']
      .map((name) => [name, { '*': { reason: 'covered by the stream conformance checks and its own tests' } }]),
  ),
};

function exportedFunctions(): Map<string, (...args: never[]) => unknown> {
  const found = new Map<string, (...args: never[]) => unknown>();
  for (const module of [triode, testing, triode.lowlevel] as Array<Record<string, unknown>>) {
    for (const [name, value] of Object.entries(module)) {
      if (typeof value === 'function' && !/^[A-Z]/.test(name)) found.set(name, value as (...args: never[]) => unknown);
    }
  }
  return found;
}

function exportedAsyncMethods(): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const module of [triode, testing, triode.lowlevel] as Array<Record<string, unknown>>) {
    for (const [name, value] of Object.entries(module)) {
      if (typeof value !== 'function' || !/^[A-Z]/.test(name)) continue;
      const proto = (value as { prototype?: object }).prototype;
      if (proto === undefined) continue;
      for (const method of Object.getOwnPropertyNames(proto)) {
        const fn = Object.getOwnPropertyDescriptor(proto, method)?.value;
        if (typeof fn === 'function' && /^Async(Generator)?Function$/.test(fn.constructor.name)) found.push([name, method]);
      }
    }
  }
  return found;
}

test('every exported function and async method is in a table (a new export cannot skip the rule)', () => {
  const missing = [...exportedFunctions().keys()].filter((name) => !(name in functions));
  assert.equal(missing, [], `add these exports to the tables in api-checkpoints.test.ts: ${missing.join(', ')}`);
  const missingMethods = exportedAsyncMethods()
    .filter(([cls, method]) => !(methods[cls] && (method in methods[cls]! || '*' in methods[cls]!)))
    .map(([cls, method]) => `${cls}.${method}`);
  assert.equal(missingMethods, [], `add these async methods to the tables: ${missingMethods.join(', ')}`);
  // 'sync' means it: calling returns no promise (checked for those that take no arguments).
  for (const [name, fn] of exportedFunctions()) {
    if (functions[name] === 'sync' && fn.constructor.name === 'AsyncFunction') assert.unreachable(`${name} is async but listed as sync`);
  }
});

async function checkCase(name: string, entry: Case): Promise<void> {
  if (entry.kind === 'checkpoint') {
    const value = await testing.assertCheckpoints(entry.call).catch((error: unknown) => {
      throw new Error(`${name}: not a checkpoint when it does not block: ${(error as Error).message}`);
    });
    await entry.cleanup?.(value);
  }
  const scope = new CancelScope();
  let outcome: unknown = 'returned';
  await scope.run(async () => {
    scope.cancel();
    outcome = await rejection(entry.call()).catch(() => 'resolved');
  });
  assert.instance(outcome, Cancelled, `${name}: entered in a cancelled scope, it must raise Cancelled (got ${String(outcome)})`);
}

for (const [name, entry] of Object.entries(functions)) {
  if (typeof entry !== 'object' || !('kind' in entry)) continue;
  const wrap = entry.real ? (fn: () => Promise<void>) => () => triode.run(() => triode.failAfter(60_000, fn)) : mock;
  test(`${name} is a checkpoint`, wrap(async () => {
    await checkCase(name, entry);
  }));
}

for (const [cls, table] of Object.entries(methods)) {
  for (const [method, entry] of Object.entries(table)) {
    if (typeof entry !== 'object' || !('kind' in entry)) continue;
    test(`${cls}.${method} is a checkpoint`, mock(async () => checkCase(`${cls}.${method}`, entry as Case)));
  }
}

test.run();
