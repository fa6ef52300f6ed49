// runProcess, openProcess and Process against real child processes (node -e …), real time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CalledProcessError,
  CancelScope,
  failAfter,
  lowlevel,
  moveOnAfter,
  openNursery,
  run,
  runProcess,
  sleep,
  type Process,
} from 'triode';
import { rejection } from '../../helpers.js';

const node = (code: string) => [process.execPath, '-e', code];
const real = (fn: () => Promise<void>) => () => run(() => failAfter(60_000, fn));
const text = (data: Uint8Array) => new TextDecoder().decode(data);

async function readLine(stream: Process['stdout']): Promise<string> {
  let out = '';
  while (!out.includes('\n')) {
    const chunk = await stream!.receiveSome();
    if (chunk.length === 0) break;
    out += text(chunk);
  }
  return out.trim();
}

test('cancelling runProcess kills the whole process group: no grandchild survives', real(async () => {
  if (process.platform === 'win32') return;
  const marker = `triode-group-${process.pid}-${Date.now()}`;
  // Two background sleeps under a shell, each named by the marker (exec -a) so pgrep finds them.
  const command = ['bash', '-c', `(exec -a ${marker} sleep 301) & (exec -a ${marker} sleep 301) & wait`];
  const survivors = async () => {
    const result = await runProcess(['pgrep', '-f', marker], { check: false, captureStdout: true, encoding: 'utf8' });
    return result.stdout.trim().split('\n').filter((line) => line !== '');
  };
  await moveOnAfter(300, () => runProcess(command, { terminateGraceMs: 2000 }));
  await sleep(100);
  assert.equal(await survivors(), [], 'both grandchildren were signalled with the group');

  // killGroup: false signals the child only: its grandchildren live on (then we clean up).
  await moveOnAfter(300, () => runProcess(command, { killGroup: false, terminateGraceMs: 2000 }));
  await sleep(100);
  const left = await survivors();
  assert.is(left.length, 2, 'with killGroup: false the grandchildren outlive the child');
  await runProcess(['pkill', '-f', marker], { check: false });
  assert.instance(await rejection(runProcess(['true'], { killGroup: 'yes' as never })), TypeError);
  assert.instance(await rejection(runProcess(['true'], null as never)), TypeError);
}));

test('runProcess captures output as bytes or text', real(async () => {
  const result = await runProcess(node('process.stdout.write("out"); process.stderr.write("err")'), {
    captureStdout: true,
    captureStderr: true,
  });
  assert.is(result.returncode, 0);
  assert.instance(result.stdout, Uint8Array);
  assert.is(text(result.stdout as Uint8Array), 'out');
  assert.is(text(result.stderr as Uint8Array), 'err');
  const utf8 = await runProcess(node('console.log("héllo")'), { captureStdout: true, encoding: 'utf8' });
  assert.is(utf8.stdout, 'héllo\n');
  assert.is(utf8.stderr, undefined, 'not captured');
}));

test('runProcess feeds stdin (bytes or text); a child that ignores its input is not an error', real(async () => {
  const echo = node('process.stdin.pipe(process.stdout)');
  assert.is((await runProcess(echo, { stdin: 'fed text', captureStdout: true, encoding: 'utf8' })).stdout, 'fed text');
  const big = new Uint8Array(5 << 20).fill(65);
  assert.is(((await runProcess(echo, { stdin: big, captureStdout: true })).stdout as Uint8Array).length, big.length);
  const ignores = await runProcess(node('process.exit(0)'), { stdin: big });
  assert.is(ignores.returncode, 0);
}));

test('check: a non-zero exit raises CalledProcessError (not in a group) with the captured output', real(async () => {
  const error = await rejection(runProcess(node('console.error("bad thing"); process.exit(3)'), { captureStderr: true, encoding: 'utf8' }));
  assert.instance(error, CalledProcessError);
  const e = error as CalledProcessError;
  assert.is(e.returncode, 3);
  assert.is(e.stderr, 'bad thing\n');
  assert.match(e.message, /exited with code 3: bad thing/);
  const unchecked = await runProcess(node('process.exit(3)'), { check: false });
  assert.is(unchecked.returncode, 3);
  const killed = await runProcess(node('process.kill(process.pid, "SIGTERM"); setTimeout(() => {}, 10000)'), { check: false });
  assert.is(killed.returncode, -15, 'killed by SIGTERM: -15');
  const missing = await rejection(runProcess(['triode-no-such-program-xyz']));
  assert.is((missing as NodeJS.ErrnoException).code, 'ENOENT');
  assert.instance(await rejection(runProcess('ls' as never)), TypeError);
}));

test('cancelled: SIGTERM, and a child that ignores it is killed after the grace period', real(async () => {
  let proc: Process | undefined;
  const started = performance.now();
  await openNursery(async (nursery) => {
    proc = await nursery.start(runProcess, node('process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'), {
      stdout: 'pipe',
      terminateGraceMs: 300,
    });
    assert.is(await readLine(proc.stdout), 'ready');
    nursery.cancelScope.cancel();
  });
  assert.is(proc!.returncode, -9, 'SIGKILL after the grace period');
  assert.ok(performance.now() - started >= 290, 'the grace period was waited');

  let polite: Process | undefined;
  await moveOnAfter(20_000, () =>
    openNursery(async (nursery) => {
      polite = await nursery.start(runProcess, node('console.log("ready"); setInterval(() => {}, 1000)'), { stdout: 'pipe' });
      assert.is(await readLine(polite.stdout), 'ready');
      nursery.cancelScope.cancel();
    }),
  );
  assert.is(polite!.returncode, -15, 'SIGTERM was enough');
}));

test('cancelled awaited runProcess raises Cancelled only after the child exited; deliverCancel overrides', real(async () => {
  const scope = new CancelScope();
  let delivered: Process | undefined;
  await openNursery(async (nursery) => {
    nursery.startSoon(() =>
      scope.run(() =>
        runProcess(node('setInterval(() => {}, 1000)'), {
          deliverCancel: async (p) => {
            delivered = p;
            p.sendSignal('SIGINT');
          },
        }),
      ),
    );
    await sleep(300);
    scope.cancel();
  });
  assert.ok(scope.cancelledCaught);
  assert.is(delivered!.returncode, -2, 'exited through SIGINT before Cancelled was raised');
}));

test('a child stdout larger than the pipe buffer flows with backpressure', real(async () => {
  const size = 8 << 20;
  await openNursery(async (nursery) => {
    const proc = await nursery.start(runProcess, node(`process.stdout.write(Buffer.alloc(${size}, 66))`), { stdout: 'pipe' });
    await sleep(300);
    assert.is(proc.poll(), undefined, 'the child is blocked on its full pipe while nobody reads');
    let total = 0;
    for await (const chunk of proc.stdout!) total += chunk.length;
    assert.is(total, size);
    assert.is(await proc.wait(), 0);
  });
}));

test('lowlevel.openProcess: poll, sendSignal, wait and its cancelled twin, pipes, aclose', real(async () => {
  const proc = await lowlevel.openProcess(node('process.stdin.on("data", (d) => process.stdout.write(String(d).toUpperCase())); process.on("SIGUSR2", () => process.exit(7))'), {
    stdin: 'pipe',
    stdout: 'pipe',
  });
  assert.type(proc.pid, 'number');
  assert.is(proc.poll(), undefined);
  await proc.stdin!.sendAll(new TextEncoder().encode('shout\n'));
  assert.is(await readLine(proc.stdout), 'SHOUT');
  const scope = new CancelScope();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => scope.run(() => proc.wait()));
    await sleep(50);
    scope.cancel();
  });
  assert.ok(scope.cancelledCaught);
  assert.is(proc.poll(), undefined, 'a cancelled wait leaves the process running');
  proc.sendSignal('SIGUSR2');
  assert.is(await proc.wait(), 7);
  assert.is(proc.returncode, 7);
  await proc.aclose();
  proc.kill(); // after the exit: does nothing
}));

test('Process.aclose waits for the exit; cancelled, it kills the process and still waits', real(async () => {
  const proc = await lowlevel.openProcess(node('setInterval(() => {}, 1000)'), { stdout: 'pipe' });
  const scope = new CancelScope();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => scope.run(() => proc.aclose()));
    await sleep(100);
    assert.is(proc.poll(), undefined, 'aclose is waiting for the exit');
    scope.cancel();
  });
  assert.ok(scope.cancelledCaught);
  assert.is(proc.returncode, -9, 'killed, and waited for');
}));

test.run();
