// Every example is run as its own program, as a user would, and its output is checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../../examples/', import.meta.url));

function runExample(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [dir + file], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test('hello-sleep sleeps and says hello', async () => {
  assert.match(await runExample('hello-sleep.js'), /hello from triode: slept at least 300 ms/);
});

test('nursery-children: the parent finishes after both children', async () => {
  const out = (await runExample('nursery-children.js')).trim().split('\n').map((l) => l.trim());
  assert.equal(out, [
    'parent: started!',
    'parent: spawning child1...',
    'parent: spawning child2...',
    'parent: waiting for children to finish...',
    'child1: started! sleeping now...',
    'child2: started! sleeping now...',
    'child2: exiting!',
    'child1: exiting!',
    'parent: all done!',
  ]);
});

test('timeout-footgun: the wrong form lets the job finish, the right one times it out', async () => {
  const out = await runExample('timeout-footgun.js');
  assert.match(out, /job A: finished after \d+ ms/);
  assert.match(out, /job B: timed out after 100 ms, as intended/);
  assert.not.match(out, /job B: finished/);
});

test('tcp-connection-ids: real clients; each handler logs under its own connection id', async () => {
  const out = await runExample('tcp-connection-ids.js');
  const ids = new Set<string>();
  for (const words of ['hello', 'structured', 'concurrency']) {
    const reply = out.match(new RegExp(`client "${words}" \\(port (\\d+)\\) got "${words.toUpperCase()}"`));
    assert.ok(reply, `the client sending "${words}" got it back in upper case`);
    const connected = out.match(new RegExp(`\\[connection (\\d+)\\] connected from port ${reply![1]}\\n`));
    assert.ok(connected, 'the handler logged the connection from that client');
    const id = connected![1]!;
    ids.add(id);
    assert.match(out, `[connection ${id}] answering "${words}"`, 'the child task logged under the same id');
  }
  assert.is(ids.size, 3, 'three connections, three ids');
  assert.match(out, /server stopped/);
});

test('sighup-reload: two SIGHUPs, two reloads, no listener left', async () => {
  const out = await runExample('sighup-reload.js');
  assert.match(out, /config says "hello"/);
  assert.match(out, /SIGHUP: reloaded, config now says "bonjour"\nSIGHUP: reloaded, config now says "hola"/);
  assert.match(out, /SIGHUP listeners left installed: 0/);
});

test('run-process: awaited output, then three piped lines from a started child that is then terminated', async () => {
  const out = await runExample('run-process.js');
  assert.match(out, `awaited: node ${process.version} says hi`);
  assert.match(out, /started: pid \d+\npiped: tick 1\npiped: tick 2\npiped: tick 3\n/);
  assert.match(out, /the ticker was terminated/);
});

test('task-local: each handler logs its own request id', async () => {
  const out = await runExample('task-local.js');
  for (const id of [1, 2, 3]) {
    for (const what of ['started', 'fetched header', 'fetched body', 'finished']) {
      assert.match(out, new RegExp(`request ${id}: ${what}`));
    }
  }
});

test('channel-producer-consumer: three messages, then the loop ends', async () => {
  const out = await runExample('channel-producer-consumer.js');
  assert.match(out, /got value "message 0"\n.*got value "message 1"\n.*got value "message 2"\n/);
  assert.match(out, /all done/);
});

test('channel-fan-in-out: every value reaches exactly one consumer', async () => {
  const out = await runExample('channel-fan-in-out.js');
  const values = [...out.matchAll(/consumer [XY] got value "(.*)"/g)].map((m) => m[1]).sort();
  assert.equal(values, ['0 from producer A', '0 from producer B', '1 from producer A', '1 from producer B', '2 from producer A', '2 from producer B']);
  assert.match(out, /all 6 values were received/);
});

test('channel-without-clone: the second producer hits ClosedResourceError', async () => {
  const out = await runExample('channel-without-clone.js');
  assert.match(out, /producer B failed: ClosedResourceError/);
});

test('shared-channels: the streamed file hashes as the file does; mapInWorkers finds every prime', async () => {
  const out = await runExample('shared-channels.js');
  const streamed = out.match(/streamed (\d+) bytes of .* in (\d+) chunks/);
  assert.ok(streamed, out);
  assert.is(Number(streamed![2]), Math.ceil(Number(streamed![1]) / 65536), 'full 64 KiB chunks, the last one shorter');
  assert.match(out, /sha256 of the stream matches the file: true/);
  assert.match(out, /primes below 200000: 17984/);
});

test('parallel-sort: a fork-join merge sort through nested calls sorts correctly', async () => {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [dir + 'parallel-sort.js', '200000'], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`parallel-sort failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
  assert.match(out, /sorted 200000 numbers: one thread \d+ ms, fork-join on \d threads \d+ ms/);
  assert.match(out, /sorted correctly: true/);
});

test('`npm run examples` runs every example', async () => {
  const out = await runExample('all.js');
  assert.match(out, /All examples ran/);
  assert.match(out, /parent: all done!/);
});

test.run();
