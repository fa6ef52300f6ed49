/**
 * Outside a run, triode costs nothing: once every run on the thread has ended, the
 * AsyncLocalStorage is disabled, so on Node < 24 its promise hook is gone and the program's own
 * promises cost what they cost before triode loaded.
 *
 * Timing, made robust for a busy machine: in interleaved rounds the same `await` loop runs bare,
 * then with a throwaway AsyncLocalStorage enabled (which installs the hook). With the hook gone
 * after the run, bare rounds are clearly cheaper than hooked ones; were triode's storage still
 * enabled, both would pay the hook and cost the same. On a Node whose AsyncLocalStorage has no
 * promise hook (AsyncContextFrame, Node ≥ 24) the probe finds nothing to compare and the timing
 * half is skipped; the functional half still runs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkpoint, lowlevel, run, sleep } from 'triode';

async function awaitLoop(n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await null;
  return performance.now() - t0;
}

/** Median over `rounds` of [bare, hooked] timings of the await loop, interleaved. */
async function bareVersusHooked(rounds: number): Promise<{ bare: number; hooked: number }> {
  const bare: number[] = [];
  const hooked: number[] = [];
  const N = 100_000;
  await awaitLoop(N); // warm up
  for (let r = 0; r < rounds; r++) {
    bare.push(await awaitLoop(N));
    const probe = new AsyncLocalStorage<number>();
    probe.enterWith(1);
    hooked.push(await awaitLoop(N));
    probe.disable();
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return { bare: median(bare), hooked: median(hooked) };
}

test('after a run ends, promises no longer pay for triode (the storage is disabled)', async () => {
  const before = await bareVersusHooked(7);
  const platformHasHook = before.hooked > 1.5 * before.bare;
  await run(async () => {
    await sleep(1);
    await checkpoint();
  });
  if (!platformHasHook) return; // AsyncContextFrame: no hook to remove
  const after = await bareVersusHooked(7);
  assert.ok(
    after.bare < 0.75 * after.hooked,
    `after the run a bare await loop took ${after.bare.toFixed(1)} ms, as much as a hooked one (${after.hooked.toFixed(1)} ms): triode's hook is still on`,
  );
});

test('runs still work after the storage was disabled, also concurrent and back-to-back', async () => {
  for (let i = 0; i < 3; i++) {
    const names = await Promise.all([1, 2].map((n) => run(async () => {
      await sleep(1);
      await checkpoint();
      return `${lowlevel.currentTask().name}-${n}`;
    })));
    assert.is(names.length, 2);
  }
  // A continuation of a finished run sees no run (not a stale one).
  let leaked: Promise<void> | undefined;
  await run(async () => {
    leaked = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.throws(() => lowlevel.currentTask(), /outside of triode.run|after its triode.run\(\) finished/);
    })();
  });
  await leaked;
});

test.run();
