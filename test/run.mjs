// Runs the compiled uvu suite and ends with a plain "N passed, N failed" line. Each test file
// runs in its own process (tests install signal handlers and leave nothing behind; a separate
// process per file proves that, and keeps one file's failure from hiding another's).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../.test-build/test/', import.meta.url).pathname;
const filter = process.argv[2];
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js') && (!filter || path.includes(filter))) files.push(path);
  }
})(root);

const PER_FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 120_000);

/** The test file running now, if any. */
let current;
function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}
// Stopped itself (CI's time limit, Ctrl-C): the running file's group goes too.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (current !== undefined) killGroup(current);
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}
let passed = 0;
let failed = 0;
const broken = [];
const skipped = [];
for (const file of files) {
  const name = relative(root, file);
  const out = await new Promise((resolve) => {
    // In a process group of its own: whatever it started (a redis-server, triode-worker
    // processes) goes with it when it times out, and anything it left behind is ended after it.
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    current = child;
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => {
      text += `\n${name}: timed out after ${PER_FILE_TIMEOUT_MS} ms\n`;
      killGroup(child);
    }, PER_FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      killGroup(child);
      current = undefined;
      resolve({ text, code });
    });
  });
  // A file that needs what this machine lacks says so and runs nothing (see test/remote).
  const skip = /^SKIPPED: (.*)$/m.exec(out.text);
  if (skip && out.code === 0) {
    skipped.push(`${name}: ${skip[1]}`);
    process.stdout.write(`skip ${name}: ${skip[1]}\n`);
    continue;
  }
  const total = /Total:\s+(\d+)/.exec(out.text);
  const ok = /Passed:\s+(\d+)/.exec(out.text);
  const t = total ? Number(total[1]) : 0;
  const p = ok ? Number(ok[1]) : 0;
  const fileFailed = out.code !== 0 || t === 0 || p !== t;
  passed += p;
  failed += t - p + (fileFailed && t === p ? 1 : 0);
  if (fileFailed) broken.push(name);
  process.stdout.write(`${fileFailed ? 'FAIL' : 'ok  '} ${name} (${p}/${t})\n`);
  if (fileFailed) process.stdout.write(out.text.split('\n').map((l) => '    ' + l).join('\n') + '\n');
}
if (skipped.length > 0) console.log(`\nskipped files:\n  ${skipped.join('\n  ')}`);
if (broken.length > 0) console.log(`\nfailing files: ${broken.join(', ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
