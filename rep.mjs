import { EndOfChannel, failAfter, moveOnAfter, openNursery, openSharedChannel, run, runInWorker, WorkerPool } from 'triode';
const fixture = new URL('file:///work/main/.test-build/test/fixtures/worker-module.js');
const B = 1_000_000;
const pool = new WorkerPool({ maxThreads: 2 });
for (let r = 0; r < 30; r++) {
  const [capacityBytes, countA, countB, batch, killA, killB, closeAt] = [58, 1064, 1368, 1, 2, 8, 29];
  try {
  await run(() => failAfter(30_000, async () => {
    const [tx, rx] = openSharedChannel({ capacityBytes });
    const clone = rx.clone();
    const got = [];
    const produce = (sender, start, count, killAt) => {
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
        try { got.push(await from.receive()); } catch (error) { if (error instanceof EndOfChannel) break; throw error; }
      }
    });
    const a = got.filter((v) => v < B), b = got.filter((v) => v >= B);
    a.forEach((v, i) => { if (v !== i) throw new Error(`A[${i}] = ${v}`); });
    b.forEach((v, i) => { if (v !== B + i) throw new Error(`B[${i}] = ${v}`); });
  }));
  } catch (e) { console.log('round', r, e?.errors?.[0] ?? e); break; }
}
await pool.close();
console.log('end');
