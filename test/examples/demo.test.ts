// `npm run demo` (examples/demo.ts), run as a program: its options, both modes, its timeout and
// Ctrl-C in each phase. Real processes and real time; every window is ≥ 10× what it needs idle.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const demo = fileURLToPath(new URL('../../examples/demo.js', import.meta.url));

function runDemo(args: string[], interruptWhen?: (out: string) => boolean): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [demo, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const check = () => {
      if (interruptWhen !== undefined && !sent && interruptWhen(out)) {
        sent = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', (d: Buffer) => { out += d; check(); });
    child.stderr.on('data', (d: Buffer) => { out += d; check(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`demo hung:\n${out}`)); }, 120_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

test('--help prints the usage and exits 0', async () => {
  const { code, out } = await runDemo(['--help']);
  assert.is(code, 0);
  assert.match(out, /usage: npm run demo/);
  assert.match(out, /--cancel/);
});

test('a bad argument gives one line, no stack, exit code 2', async () => {
  for (const args of [['--bogus'], ['--jobs', 'x'], ['--timeout', '-5'], ['--threads']]) {
    const { code, out } = await runDemo(args);
    assert.is(code, 2, out);
    assert.is(out.trim().split('\n').length, 1, out);
    assert.match(out, /^demo: .*\(try --help\)/);
    assert.not.match(out, /\n\s+at /);
  }
});

test('the default mode compresses on one thread, then on worker threads, and prints the speed-up', async () => {
  const { code, out } = await runDemo(['--jobs', '8', '--size', '32', '--threads', '2']);
  assert.is(code, 0, out);
  assert.match(out, /identical results on both paths/);
  assert.match(out, /speed-up: \d+\.\d\d×/);
});

test('--cancel: one failing job stops every other thread, and the demo says how fast', async () => {
  const { code, out } = await runDemo(['--cancel', '--threads', '2']);
  assert.is(code, 0, out);
  assert.match(out, /one job failed: job failed on purpose/);
  const ms = Number(/all stopped ([\d.]+) ms after the failure/.exec(out)?.[1]);
  assert.ok(ms < 1000, `the other jobs took ${ms} ms to stop`);
});

test('--timeout stops the demo honestly: exit 1, the phase, the real elapsed time', async () => {
  const { code, out } = await runDemo(['--jobs', '100000', '--size', '8', '--timeout', '300']);
  assert.is(code, 1, out);
  const match = /timed out after 300 ms during "one thread" after ([\d.]+) s/.exec(out);
  assert.ok(match, out);
  assert.ok(Number(match![1]) < 3, `reported ${match![1]} s for a 300 ms timeout`);
});

for (const [phase, when] of [
  ['one thread', (out: string) => out.includes('compressing')],
  ['2 worker threads', (out: string) => /one thread .*\d+\/\d+/.test(out)],
] as const) {
  test(`Ctrl-C during "${phase}" ends the demo at once with exit code 130 and a summary`, async () => {
    const { code, out } = await runDemo(['--jobs', '1000', '--size', '32', '--threads', '2'], when);
    assert.is(code, 130, out);
    const match = new RegExp(`interrupted during "${phase}" after [\\d.]+ s \\(stopped (\\d+) ms after Ctrl-C\\)`).exec(out);
    assert.ok(match, out);
    assert.ok(Number(match![1]) < 1000, `stopped ${match![1]} ms after Ctrl-C`);
  });
}

test.run();
