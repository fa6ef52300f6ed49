/**
 * Trio's `_tests/test_subprocess.py`, translated case by case (names kept). The child programs
 * are Node one-liners instead of Python ones. Real processes, real time under `failAfter`.
 *
 * Not carried over, and why:
 * - *_no_pidfd, test_wait_reapable_fails*, test_waitid_eintr, test_subprocess_pidfd_unnotified:
 *   Trio's own reaping (pidfd, waitid); Node's libuv reaps children.
 * - test_interactive, test_pipes, test_stderr_stdout: covered in test/main/io/process.test.ts
 *   (pipes with backpressure, stdin fed while stdout is read, stderr captured apart).
 * - test_errors: Trio refuses Popen options it does not support (`encoding`, `shell`); triode's
 *   options are its own and every unknown shape is refused by the options check.
 * - test_warn_on_failed_cancel_terminate, test_warn_on_cancel_SIGKILL_escalation: Trio logs
 *   warnings; triode's escalation (SIGTERM, grace, SIGKILL) is tested without logging.
 * - test_for_leaking_fds, test_run_process_internal_error: CPython fd tables and internals.
 * - Trio's "stdin=PIPE is only valid with nursery.start": in triode `runProcess(cmd)` outside
 *   `nursery.start` defaults stdin to 'ignore', and 'pipe' there is allowed (nobody writes to it).
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CalledProcessError, ExceptionGroup, failAfter, lowlevel, moveOnAfter, openNursery, run, runProcess, sleepForever, type Process } from 'triode';
import { waitAllTasksBlocked } from 'triode/testing';
import { rejection } from '../helpers.js';

const real = (fn: () => Promise<void>) => () => run(() => failAfter(60_000, fn));
const node = (code: string) => [process.execPath, '-e', code];
const EXIT_TRUE = node('process.exit(0)');
const EXIT_FALSE = node('process.exit(1)');
const CAT = node('process.stdin.pipe(process.stdout)');
// A Node child would take SIGUSR1 as "start the inspector" and live on: POSIX's own sleep takes
// every signal's default action, as Trio's Python sleeper does.
const SLEEP = (seconds: number) => (process.platform === 'win32' ? node(`setTimeout(() => {}, ${seconds * 1000})`) : ['sleep', String(seconds)]);
const COPY_STDIN_TO_STDOUT_AND_BACKWARD_TO_STDERR = node(
  'const c = []; process.stdin.on("data", (d) => c.push(d)); process.stdin.on("end", () => { const all = Buffer.concat(c); process.stdout.write(all); process.stderr.write(Buffer.from(all).reverse()); });',
);

async function backgroundProcess<T>(command: string[], fn: (proc: Process) => Promise<T>): Promise<T> {
  const proc = await lowlevel.openProcess(command, { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
  try {
    return await fn(proc);
  } finally {
    proc.kill();
    await proc.aclose();
  }
}

test('test_basic', real(async () => {
  let proc = await backgroundProcess(EXIT_TRUE, async (p) => { await p.wait(); return p; });
  assert.is(proc.returncode, 0);
  proc = await backgroundProcess(EXIT_FALSE, async (p) => { await p.wait(); return p; });
  assert.is(proc.returncode, 1);
}));

test('test_auto_update_returncode', real(async () => {
  await backgroundProcess(SLEEP(9999), async (p) => {
    assert.is(p.returncode, undefined);
    p.kill();
    await p.wait();
    assert.is.not(p.returncode, undefined);
  });
}));

test('test_multi_wait', real(async () => {
  await backgroundProcess(SLEEP(10), async (proc) => {
    await openNursery(async (nursery) => {
      for (let i = 0; i < 3; i++) nursery.startSoon(() => proc.wait());
      await waitAllTasksBlocked();
      nursery.cancelScope.cancel();
    });
    await openNursery(async (nursery) => {
      for (let i = 0; i < 3; i++) nursery.startSoon(() => proc.wait());
      await waitAllTasksBlocked();
      proc.kill();
    });
  });
}));

test('test_run', real(async () => {
  const data = new Uint8Array(randomBytes(2 ** 18));
  let result = await runProcess(CAT, { stdin: data, captureStdout: true, captureStderr: true });
  assert.equal(result.command, CAT);
  assert.is(result.returncode, 0);
  assert.equal(Buffer.from(result.stdout), Buffer.from(data));
  assert.is(result.stderr.length, 0);
  const r2 = await runProcess(CAT, { captureStdout: true });
  assert.is(r2.returncode, 0);
  assert.is(r2.stdout.length, 0);
  assert.is(r2.stderr, undefined);
  result = await runProcess(COPY_STDIN_TO_STDOUT_AND_BACKWARD_TO_STDERR, { stdin: data, captureStdout: true, captureStderr: true });
  assert.is(result.returncode, 0);
  assert.equal(Buffer.from(result.stdout), Buffer.from(data));
  assert.equal(Buffer.from(result.stderr), Buffer.from(data).reverse());
}));

test('test_run_check', real(async () => {
  const cmd = node('process.stderr.write("test\\n"); process.exitCode = 1;');
  const error = await rejection(runProcess(cmd, { stdin: 'ignore', captureStderr: true, encoding: 'utf8' }));
  assert.instance(error, CalledProcessError);
  const e = error as CalledProcessError;
  assert.equal(e.command, cmd);
  assert.is(e.returncode, 1);
  assert.is(e.stderr, 'test\n');
  assert.is(e.stdout, undefined);
  const result = await runProcess(cmd, { captureStdout: true, captureStderr: true, check: false, encoding: 'utf8' });
  assert.equal(result.command, cmd);
  assert.is(result.stdout, '');
  assert.is(result.stderr, 'test\n');
  assert.is(result.returncode, 1);
}));

test('test_run_with_broken_pipe', real(async () => {
  const result = await runProcess(node('process.stdin.destroy()'), { stdin: new Uint8Array(131072) });
  assert.is(result.returncode, 0);
  assert.is(result.stdout, undefined);
  assert.is(result.stderr, undefined);
}));

test('test_signals', real(async () => {
  const testOneSignal = async (sendIt: (proc: Process) => void, signal: NodeJS.Signals) => {
    let proc: Process | undefined;
    const value = await moveOnAfter(10_000, () =>
      backgroundProcess(SLEEP(3600), async (p) => {
        proc = p;
        sendIt(p);
        await p.wait();
        return 'exited';
      }),
    );
    assert.is(value, 'exited', 'the signal ended the process');
    if (process.platform !== 'win32') assert.is(proc!.returncode, -os.constants.signals[signal]);
    else assert.is.not(proc!.returncode, 0);
  };
  await testOneSignal((p) => p.kill(), 'SIGKILL');
  await testOneSignal((p) => p.terminate(), 'SIGTERM');
  if (process.platform !== 'win32') await testOneSignal((p) => p.sendSignal('SIGUSR1'), 'SIGUSR1');
}));

test('test_custom_deliver_cancel', real(async () => {
  let called = false;
  const customDeliverCancel = async (proc: Process) => {
    called = true;
    proc.terminate();
    try {
      await sleepForever();
    } finally {
      assert.is.not(proc.returncode, undefined, 'the process had exited when deliverCancel was cancelled');
    }
  };
  await openNursery(async (nursery) => {
    nursery.startSoon(() => runProcess(SLEEP(9999), { deliverCancel: customDeliverCancel }));
    await waitAllTasksBlocked();
    nursery.cancelScope.cancel();
  });
  assert.ok(called);
}));

test('test_bad_deliver_cancel', real(async () => {
  assert.instance(await rejection(runProcess(EXIT_TRUE, { deliverCancel: 'nope' as never })), TypeError);
}));

test('test_run_process_background_fail', real(async () => {
  let proc: Process | undefined;
  const error = await rejection(openNursery(async (nursery) => {
    proc = await nursery.start(runProcess, EXIT_FALSE);
  }));
  assert.instance(error, ExceptionGroup);
  assert.instance((error as ExceptionGroup).exceptions[0], CalledProcessError);
  assert.is(proc!.returncode, 1);
}));

test.run();
