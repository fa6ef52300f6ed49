// The wake-up protocol of a ring with one reader (ring.ts, WAKE_SOLE_READER; the scheduler's
// reply rings): writers on three threads publish while the reader drains and sleeps over and
// over. Every frame arrives, in each writer's order, and the reader is never left asleep with
// frames in the ring (a lost wake-up fails the test after 10 s instead of hanging it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createRing, H_DATA, openEndpoint, readFrames, soleReaderAwake, soleReaderWait, tryWrite, viewRing, WAKE_SOLE_READER, wakeReaders } from '../../src/shared/ring.js';

const writerFile = new URL('../fixtures/sole-reader-writer.js', import.meta.url);

async function readAll(writers: number, count: number, ringBytes: number): Promise<{ sleeps: number }> {
  const sab = createRing(ringBytes);
  const ring = viewRing(sab);
  openEndpoint(ring, 'receive');
  const next = new Array<number>(writers).fill(0);
  let received = 0;
  let sleeps = 0;
  const threads = Array.from({ length: writers }, (_, id) => new Worker(writerFile, { workerData: { sab, id, count } }));
  try {
    while (received < writers * count) {
      const seen = Atomics.load(ring.header, H_DATA);
      readFrames(ring, 1024, (tag, payload) => {
        const seq = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, true);
        assert.is(seq, next[tag], `writer ${tag}'s frames in order`);
        next[tag]!++;
        received++;
      });
      if (received === writers * count) break;
      const waiting = soleReaderWait(ring, seen);
      if (!waiting.async) continue;
      sleeps++;
      let timer: NodeJS.Timeout | undefined;
      const woken = await Promise.race([waiting.value.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 10_000, false)))]);
      clearTimeout(timer);
      soleReaderAwake(ring);
      if (!woken) {
        const before = received;
        readFrames(ring, 1024, () => received++);
        assert.unreachable(`the reader slept 10 s with ${received - before} frames waiting (a lost wake-up)`);
      }
    }
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
  assert.equal(next, new Array(writers).fill(count));
  return { sleeps };
}

test('three writers, a reader that sleeps between batches: every frame, in order, no lost wake-up', async () => {
  const { sleeps } = await readAll(3, 20_000, 64 * 1024);
  assert.ok(sleeps > 10, `the reader went to sleep ${sleeps} times (the protocol was exercised)`);
});

test('a small ring: writers wait for space while the reader sleeps and wakes', async () => {
  await readAll(3, 5_000, 1024);
});

test('a writer paused between its DATA increment and its wake-up, whose frame the reader already took, does not use up the next writer\'s wake-up', async () => {
  const ring = viewRing(createRing(4096));
  openEndpoint(ring, 'receive');
  // Writer 1 publishes and pauses before waking anyone (its wake-up runs below, late).
  const before = Atomics.load(ring.header, H_DATA);
  tryWrite(ring, 1, new Uint8Array(8), 0);
  // The reader takes the frame and goes to sleep.
  const seen = Atomics.load(ring.header, H_DATA);
  let frames = 0;
  readFrames(ring, 16, () => frames++);
  assert.is(frames, 1);
  const waiting = soleReaderWait(ring, seen);
  assert.ok(waiting.async, 'the reader sleeps');
  // Writer 1 resumes: its frame was read, so it must leave the reader's flag alone…
  wakeReaders(ring.header, before, WAKE_SOLE_READER);
  // …for writer 2, whose frame the reader has not seen, to wake it.
  tryWrite(ring, 2, new Uint8Array(8), WAKE_SOLE_READER);
  let timer: NodeJS.Timeout | undefined;
  const woken = await Promise.race([waiting.value.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 5_000, false)))]);
  clearTimeout(timer);
  soleReaderAwake(ring);
  assert.ok(woken, "writer 2's frame woke the reader");
  readFrames(ring, 16, () => frames++);
  assert.is(frames, 2);
});

test.run();
