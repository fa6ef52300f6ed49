// The cross-thread property test, with faults: two worker producers, each killed at a random
// moment or not, and a receiver clone closed at a random step. Whatever happens, each producer's
// values arrive at most once, in order, with none torn, and the channel always ends.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { EndOfChannel, failAfter, moveOnAfter, openNursery, openSharedChannel, run, runInWorker, WorkerPool, type SharedReceiveChannel } from 'triode';

const fixture = new URL('../fixtures/worker-module.js', import.meta.url);
const B = 1_000_000;

/** Checks that `values` is 0, 1, …, k-1 offset by `start` (a prefix of what the producer sends). */
function assertPrefix(values: number[], start: number, count: number, who: string): void {
  assert.ok(values.length <= count, `${who}: no more than it sent`);
  values.forEach((v, i) => assert.is(v, start + i, `${who}: value ${i} in order, once`));
}

test('property: producers killed at random points and a receiver closed at a random step: every value at most once, in order, and the channel ends', async () => {
  const pool = new WorkerPool({ maxThreads: 2 });
  let cutShort = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 16, max: 256 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 9 }),
        fc.option(fc.integer({ min: 0, max: 15 })),
        fc.option(fc.integer({ min: 0, max: 15 })),
        fc.integer({ min: 0, max: 40 }),
        async (capacityBytes, countA, countB, batch, killA, killB, closeAt) => {
          await run(() =>
            failAfter(30_000, async () => {
              const [tx, rx] = openSharedChannel<number>({ capacityBytes });
              const clone: SharedReceiveChannel<number> = rx.clone();
              const got: number[] = [];
              const produce = (sender: typeof tx, start: number, count: number, killAt: number | null) => {
                const call = () => runInWorker(fixture, 'produceFrom', [sender, start, count, batch], { pool, cancel: 'kill', killAfterMs: 0 });
                return sender.use(() => (killAt === null ? call() : moveOnAfter(killAt, call)));
              };
              await openNursery(async (n) => {
                const [txA, txB] = [tx.clone(), tx.clone()];
                tx.close();
                n.startSoon(() => produce(txA, 0, countA, killA));
                n.startSoon(() => produce(txB, B, countB, killB));
                for (let step = 0; ; step++) {
                  if (step === closeAt) clone.close();
                  const from = step < closeAt && step % 2 === 1 ? clone : rx;
                  try {
                    got.push(await from.receive());
                  } catch (error) {
                    if (error instanceof EndOfChannel) break;
                    throw error;
                  }
                }
              });
              clone.close();
              assertPrefix(got.filter((v) => v < B), 0, countA, 'producer A');
              assertPrefix(got.filter((v) => v >= B), B, countB, 'producer B');
              if (got.length < countA + countB) cutShort++;
              if (killA === null) assert.is(got.filter((v) => v < B).length, countA, 'producer A, not killed: every value');
              if (killB === null) assert.is(got.filter((v) => v >= B).length, countB, 'producer B, not killed: every value');
              assert.is(rx.statistics().openSendChannels, 0);
            }),
          );
        },
      ),
      { numRuns: 40 },
    ).catch((error: unknown) => {
      // fast-check keeps what failed in `cause`: show it, not only the counterexample.
      const cause = (error as { cause?: unknown }).cause ?? error;
      console.error(cause, (cause as { errors?: unknown })?.errors);
      throw cause;
    });
    // The faults did happen: some producers were killed before they sent everything.
    assert.ok(cutShort > 0, 'no run was cut short by a kill');
    console.log(`    ${cutShort} of 40 runs were cut short by a kill`);
  } finally {
    await pool.close();
  }
});

test.run();
