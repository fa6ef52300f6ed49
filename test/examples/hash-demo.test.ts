// The worker demo (`npm run demo`), run as a program on temporary trees.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const demo = fileURLToPath(new URL('../../examples/hash-files.js', import.meta.url));

function tree(files: number, bytes: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'triode-demo-'));
  mkdirSync(join(dir, 'sub'));
  for (let i = 0; i < files; i++) {
    writeFileSync(join(dir, i % 2 === 0 ? 'sub' : '', `file-${i}.bin`), Buffer.alloc(bytes, i));
  }
  return dir;
}

function runDemo(args: string[], interruptOn?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [demo, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (interruptOn !== undefined && !sent && out.includes(interruptOn)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`demo hung:\n${out}`)); }, 60_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

test('the demo hashes every file of a tree in workers and reports the speed-up', async () => {
  const dir = tree(3, 1000);
  try {
    const { code, out } = await runDemo([dir]);
    assert.is(code, 0, out);
    assert.match(out, /hashing 3 files under/);
    assert.match(out, /done: 3 of 3 files, 0\.0 MB/);
    assert.match(out, /main thread alone: [\d.]+ s; worker threads: [\d.]+ s; speed-up [\d.]+x/);
    const expected = createHash('sha256').update(Buffer.alloc(1000, 1)).digest('hex').slice(0, 16);
    assert.match(out, new RegExp(`${expected}…  .*file-1\\.bin`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--timeout stops the demo with a partial summary and exit code 1', async () => {
  const dir = tree(4, 100);
  try {
    const { code, out } = await runDemo([dir, '--timeout', '0']);
    assert.is(code, 1, out);
    assert.match(out, /timed out after 0 ms: \d+ of \d+ files/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C stops the workers, prints a partial summary and exits with 130', async () => {
  const dir = tree(300, 1 << 20);
  try {
    const { code, out } = await runDemo([dir], 'hashing 300 files');
    assert.is(code, 130, out);
    assert.match(out, /interrupted: \d+ of 300 files/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
