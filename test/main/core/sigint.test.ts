// Ctrl-C, for real: a child process gets SIGINT and must unwind, reject with KeyboardInterrupt,
// and exit by itself (nothing of triode keeps it alive).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const program = fileURLToPath(new URL('../../fixtures/sigint-program.js', import.meta.url));

interface Exit {
  out: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the program; sends SIGINT each time a line in `interruptAfter` appears. */
function runProgram(mode: string, interruptAfter: string[]): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [program, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const pending = [...interruptAfter];
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      while (pending.length > 0 && out.includes(pending[0]!)) {
        pending.shift();
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the program did not exit within 20 s; output so far:\n${out}`));
    }, 20_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ out, code, signal });
    });
  });
}

test('Ctrl-C cancels every task, runs every finally, rejects with KeyboardInterrupt and exits', async () => {
  const { out, code } = await runProgram('plain', ['ready']);
  assert.is(code, 0, out);
  assert.match(out, /child finally/);
  assert.match(out, /main finally/);
  assert.match(out, /run rejected with KeyboardInterrupt/);
  assert.match(out, /SIGINT listeners left: 0/);
});

test('a second Ctrl-C during a slow shutdown is not lost: the process exits at once', async () => {
  const t0 = performance.now();
  const { out, signal } = await runProgram('slow-cleanup', ['ready', 'cleanup started']);
  assert.is(signal, 'SIGINT', out);
  assert.not.match(out, /cleanup finished/);
  assert.ok(performance.now() - t0 < 15_000);
});

test.run();
