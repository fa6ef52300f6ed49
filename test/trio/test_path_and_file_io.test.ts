/**
 * Trio's `_tests/test_path.py` and `_tests/test_file_io.py`, the cases that carry over (names
 * kept). Real files in a temporary directory.
 *
 * Not carried over, and why: nearly all of both files test how Trio wraps Python's `pathlib.Path`
 * and `io` objects — magic methods (`/`, comparison, hashing), forwarded properties and
 * signatures, rewrapping of returned paths, docstrings, `dir()` and type stubs matching the
 * wrapped classes, `detach`, Windows/POSIX flavours. triode's `Path` and `AsyncFile` are their own
 * classes over `node:path` and `fs.promises`, so none of that machinery exists to test; their own
 * behaviour is tested in test/main/io/files.test.ts. `rglob` is `glob('**\/…')`; `as_uri` has no
 * counterpart (use `url.pathToFileURL`).
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cancelled, CancelScope, ClosedResourceError, openFile, Path, run, wrapFile } from 'triode';
import { rejection } from '../helpers.js';

const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'triode-trio-path-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = () => new Path(root, `case-${counter++}`);
const inRun = (fn: () => Promise<void>) => () => run(fn);

test('test_globmethods', inRun(async () => {
  const path = fresh();
  await path.mkdir();
  await path.join('foo').mkdir();
  await path.join('foo', '_bar.txt').writeBytes(new Uint8Array());
  await path.join('bar.txt').writeBytes(new Uint8Array());
  await path.join('bar.dat').writeBytes(new Uint8Array());
  for (const [pattern, results] of [['*.txt', ['bar.txt']], ['**/*.txt', ['_bar.txt', 'bar.txt']]] as const) {
    const entries = (await path.glob(pattern)).map((entry) => {
      assert.instance(entry, Path);
      return entry.name;
    });
    assert.equal(entries.sort(), [...results]);
  }
}));

test('test_iterdir', inRun(async () => {
  const path = fresh();
  await path.mkdir();
  await path.join('foo').mkdir();
  await path.join('bar.txt').writeBytes(new Uint8Array());
  const entries = (await path.iterdir()).map((entry) => {
    assert.instance(entry, Path);
    return entry.name;
  });
  assert.equal(entries.sort(), ['bar.txt', 'foo']);
}));

test('test_open_file_can_open_path', inRun(async () => {
  const path = fresh();
  const file = await openFile(path, 'w');
  try {
    await file.write('x');
  } finally {
    await file.aclose();
  }
  assert.is(fs.readFileSync(path.toString(), 'utf8'), 'x');
}));

test('test_open / test_open_context_manager', inRun(async () => {
  const path = fresh();
  const file = await openFile(path.toString(), 'w');
  await file.aclose();
  assert.instance(await rejection(file.write('after close')), ClosedResourceError);
}));

test('test_async_iter', inRun(async () => {
  const path = fresh();
  await path.writeText('test\nfoo\nbar');
  const lines: string[] = [];
  const file = await openFile(path);
  for await (const line of file) lines.push(line);
  await file.aclose();
  assert.equal(lines, ['test', 'foo', 'bar']);
}));

test('test_aclose_cancelled', inRun(async () => {
  const path = fresh();
  let file: Awaited<ReturnType<typeof openFile>> | undefined;
  const scope = new CancelScope();
  await scope.run(async () => {
    file = await openFile(path, 'w');
    scope.cancel();
    assert.instance(await rejection(file.write('a')), Cancelled);
    assert.instance(await rejection(file.aclose()), Cancelled);
  });
  // Closed all the same: a cancelled aclose still closes.
  assert.instance(await rejection(file!.write('b')), ClosedResourceError);
}));

test('test_wrap_invalid', () => {
  assert.throws(() => wrapFile('' as never), TypeError);
});

test.run();
