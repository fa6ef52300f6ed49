// Path, openFile, wrapFile against a temporary directory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { BusyResourceError, CancelScope, ClosedResourceError, Path, openFile, openNursery, run, wrapFile } from 'triode';
import { rejection } from '../../helpers.js';

const root = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'triode-files-'));
const inRun = (fn: () => Promise<void>) => () => run(fn);

test.after(() => fs.rmSync(root, { recursive: true, force: true }));

test('pure path operations', () => {
  const p = new Path('/srv', 'data', 'archive.tar.gz');
  assert.is(p.toString(), '/srv/data/archive.tar.gz');
  assert.is(p.name, 'archive.tar.gz');
  assert.is(p.suffix, '.gz');
  assert.is(p.stem, 'archive.tar');
  assert.is(p.parent.toString(), '/srv/data');
  assert.equal(p.parts, ['/', 'srv', 'data', 'archive.tar.gz']);
  assert.is(p.withSuffix('.zip').toString(), '/srv/data/archive.tar.zip');
  assert.is(p.withName('x.txt').toString(), '/srv/data/x.txt');
  assert.is(p.parent.join('a', '..', 'b').toString(), '/srv/data/b');
  assert.is(new Path('a', '/abs', 'c').toString(), '/abs/c', 'an absolute segment starts over');
  assert.is(new Path('a').join('/etc').toString(), '/etc');
  assert.is(new Path().toString(), '.');
  assert.ok(p.isAbsolute());
  assert.not.ok(new Path('rel').isAbsolute());
  assert.is(new Path('/a/b/c').relativeTo('/a').toString(), 'b/c');
  assert.is(JSON.stringify({ p: new Path('x/y') }), '{"p":"x/y"}');
  assert.throws(() => new Path(3 as never), /each segment must be a string or a Path, got 3/);
});

test('glob: braces, ranges, escapes; pathological patterns match in linear time; unsupported syntax raises', inRun(async () => {
  const dir = new Path(root, 'globs');
  const long = 'a'.repeat(60);
  for (const file of ['x.ts', 'y.js', 'z.md', 'src/a.ts', 'lib/b.js', 'q*.txt', long, 'n1.log', 'n5.log', 'n9.log']) {
    const p = dir.join(file);
    await p.parent.mkdir({ recursive: true });
    await p.writeText(file);
  }
  const names = (paths: Path[]) => paths.map((p) => p.relativeTo(dir).toString());
  assert.equal(names(await dir.glob('*.{ts,js}')), ['x.ts', 'y.js']);
  assert.equal(names(await dir.glob('{src,lib}/*')), ['lib/b.js', 'src/a.ts']);
  assert.equal(names(await dir.glob('{src/*.ts,*.md}')), ['src/a.ts', 'z.md']);
  assert.equal(names(await dir.glob('n[1-5].log')), ['n1.log', 'n5.log']);
  assert.equal(names(await dir.glob('n[^1-5].log')), ['n9.log']);
  assert.equal(names(await dir.glob('q\\*.txt')), ['q*.txt']);
  // Exponential for a backtracking regular expression (15.8 s before); linear here.
  const started = performance.now();
  assert.equal(names(await dir.glob('a*a*a*a*a*a*a*a*b')), []);
  assert.equal(names(await dir.glob('a*a*a*a*a*a*a*a*a')), [long]);
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  for (const bad of ['[abc', '{a,b', '[[:alpha:]]*', '@(a|b)', '!(x).ts']) {
    assert.instance(await rejection(dir.glob(bad)), SyntaxError, bad);
  }
  const many = '{a,b}'.repeat(11); // 2048 alternatives
  assert.instance(await rejection(dir.glob(many)), RangeError);
}));

test('options arguments must be objects: a clear TypeError naming the function', inRun(async () => {
  const dir = new Path(root, 'opts');
  for (const bad of [null, 'x', 5, [] as unknown]) {
    const error = (await rejection(dir.mkdir(bad as never))) as Error;
    assert.instance(error, TypeError);
    assert.match(error.message, /Path\.mkdir: options must be an object/);
  }
  assert.instance(await rejection(dir.rm(null as never)), TypeError);
  assert.instance(await rejection(dir.writeText('x', null as never)), TypeError);
  assert.instance(await rejection(dir.readText(null as never)), TypeError);
  assert.instance(await rejection(openFile(NaN as never)), TypeError);
}));

test('read and write text and bytes; stat, exists, isFile, isDir', inRun(async () => {
  const dir = new Path(root, 'rw');
  await dir.mkdir({ recursive: true });
  await dir.mkdir({ recursive: true }); // idempotent with recursive
  const text = dir.join('hello.txt');
  await text.writeText('héllo\n');
  assert.is(await text.readText(), 'héllo\n');
  const bin = dir.join('data.bin');
  await bin.writeBytes(new Uint8Array([0, 1, 255]));
  assert.equal(Array.from(await bin.readBytes()), [0, 1, 255]);
  assert.is((await text.stat()).size, 7);
  assert.ok(await text.exists());
  assert.ok(await text.isFile());
  assert.not.ok(await text.isDir());
  assert.ok(await dir.isDir());
  assert.not.ok(await dir.join('missing').exists());
  assert.is(((await rejection(dir.join('missing').readText())) as NodeJS.ErrnoException).code, 'ENOENT');
  assert.instance(await rejection(text.writeText(5 as never)), TypeError);
  assert.instance(await rejection(bin.writeBytes('x' as never)), TypeError);
}));

test('readText of a large file is decoded in slices, characters split across slices intact', inRun(async () => {
  const unit = 'aé😀€x'; // 1 + 2 + 4 + 3 + 1 bytes: slice ends fall inside characters
  const text = unit.repeat(Math.ceil((9 << 20) / 11));
  const path = new Path(root, 'large.txt');
  await path.writeText(text);
  const read = await path.readText();
  assert.is(read.length, text.length);
  assert.ok(read === text, 'identical text');
  assert.is(await path.readText('latin1').then((t) => t.length), Buffer.byteLength(text), 'other encodings decode in one go');
}));

test('iterdir, glob (** includes top-level files), rename, unlink, rm, resolve', inRun(async () => {
  const dir = new Path(root, 'tree');
  for (const file of ['a.ts', 'b.txt', '.hidden.ts', 'sub/c.ts', 'sub/deep/d.ts', 'sub/deep/e.md', 'other/f.ts']) {
    const p = dir.join(file);
    await p.parent.mkdir({ recursive: true });
    await p.writeText(file);
  }
  const names = (paths: Path[]) => paths.map((p) => p.relativeTo(dir).toString());
  assert.equal(names(await dir.iterdir()), ['.hidden.ts', 'a.ts', 'b.txt', 'other', 'sub']);
  assert.equal(names(await dir.glob('*.ts')), ['.hidden.ts', 'a.ts']);
  assert.equal(names(await dir.glob('**/*.ts')), ['.hidden.ts', 'a.ts', 'other/f.ts', 'sub/c.ts', 'sub/deep/d.ts']);
  assert.equal(names(await dir.glob('sub/**/*.?d')), ['sub/deep/e.md']);
  assert.equal(names(await dir.glob('[ab].*')), ['a.ts', 'b.txt']);
  assert.equal(names(await dir.glob('[!a].txt')), ['b.txt']);
  assert.equal(names(await dir.glob('*/deep')), ['sub/deep']);
  assert.equal(names(await dir.glob('nothing/*')), []);
  assert.instance(await rejection(dir.glob('')), TypeError);

  const moved = await dir.join('b.txt').rename(dir.join('moved.txt'));
  assert.is(await moved.readText(), 'b.txt');
  assert.not.ok(await dir.join('b.txt').exists());
  await moved.unlink();
  assert.is(((await rejection(moved.unlink())) as NodeJS.ErrnoException).code, 'ENOENT');
  await moved.unlink({ missingOk: true });
  await dir.join('other').rm({ recursive: true });
  assert.not.ok(await dir.join('other').exists());
  await dir.join('other').rm({ force: true });
  assert.is((await dir.resolve()).toString(), fs.realpathSync(dir.toString()));
}));

test('cancellation: an abortable read stops; other operations complete and then raise Cancelled', inRun(async () => {
  const big = new Path(root, 'big.bin');
  await big.writeBytes(new Uint8Array(4 << 20));
  const readScope = new CancelScope();
  let read: Uint8Array | undefined;
  await readScope.run(async () => {
    const pending = big.readBytes();
    readScope.cancel();
    read = await pending;
  });
  assert.ok(readScope.cancelledCaught);
  assert.is(read, undefined, 'the read was aborted, no value');

  const dir = new Path(root, 'made-while-cancelled');
  const mkdirScope = new CancelScope();
  await mkdirScope.run(async () => {
    const pending = dir.mkdir();
    mkdirScope.cancel();
    await pending;
  });
  assert.ok(mkdirScope.cancelledCaught, 'Cancelled raised after the operation');
  assert.ok(fs.existsSync(dir.toString()), 'the directory was made all the same');

  const before = new CancelScope();
  before.cancel();
  await before.run(() => new Path(root, 'never.txt').writeText('x'));
  assert.ok(before.cancelledCaught);
  assert.not.ok(fs.existsSync(nodePath.join(root, 'never.txt')), 'cancelled before it started: nothing written');
}));

test('AsyncFile: write, seek, read, tell, truncate, sync, lines, append', inRun(async () => {
  const path = new Path(root, 'file.txt');
  const file = await openFile(path, 'w+');
  assert.is(await file.write('one\r\ntwo\nthree'), 14);
  assert.is(file.tell(), 14);
  assert.is(await file.seek(0), 0);
  assert.is(new TextDecoder().decode(await file.read(3)), 'one');
  assert.is(await file.seek(-5, 'end'), 9);
  assert.is(await file.readText(), 'three');
  assert.is((await file.read()).length, 0, 'empty at the end of the file');
  assert.is(await file.seek(-5, 'current'), 9);
  await file.seek(0);
  const lines: string[] = [];
  for await (const line of file) lines.push(line);
  assert.equal(lines, ['one', 'two', 'three'], 'line terminators stripped, last line without one kept');
  await file.truncate(3);
  await file.sync();
  await file.aclose();
  await file.aclose();
  assert.is(await path.readText(), 'one');
  assert.instance(await rejection(file.read()), ClosedResourceError);
  assert.instance(await rejection(file.seek(1.5)), TypeError);

  const appender = await path.open('a');
  await appender.write('+more');
  await appender.aclose();
  assert.is(await path.readText(), 'one+more');
}));

test('AsyncFile: concurrent use raises BusyResourceError; a cancelled read completes then raises', inRun(async () => {
  const path = new Path(root, 'busy.bin');
  await path.writeBytes(new Uint8Array(1 << 20).fill(1));
  const file = await openFile(path);
  const error = await rejection(
    openNursery(async (nursery) => {
      nursery.startSoon(() => file.read());
      nursery.startSoon(() => file.read());
    }),
  );
  assert.ok((error as { errors: unknown[] }).errors.some((e) => e instanceof BusyResourceError));

  await file.seek(0);
  const scope = new CancelScope();
  await scope.run(async () => {
    const pending = file.read(1000);
    scope.cancel();
    await pending;
  });
  assert.ok(scope.cancelledCaught);
  assert.is(file.tell(), 1000, 'the read happened: the position moved');

  const closeScope = new CancelScope();
  closeScope.cancel();
  await closeScope.run(() => file.aclose());
  assert.instance(await rejection(file.read()), ClosedResourceError, 'closed even though cancelled');
  assert.throws(() => fs.fstatSync(file.fd), 'the descriptor is closed');
}));

test('wrapFile wraps an fs.promises FileHandle; openFile checks its arguments', inRun(async () => {
  const path = nodePath.join(root, 'wrapped.txt');
  fs.writeFileSync(path, 'wrapped');
  const file = wrapFile(await fsp.open(path));
  assert.is(await file.readText(), 'wrapped');
  await file.aclose();
  assert.throws(() => wrapFile({} as never), /handle must be an fs.promises FileHandle/);
  assert.is(((await rejection(openFile(nodePath.join(root, 'nope')))) as NodeJS.ErrnoException).code, 'ENOENT');
}));

test.run();
