import { CancelScope, WorkerPool, openNursery, run, runInWorker, sleep } from 'triode';
const triodeModule = new URL('file:///work/main/.test-build/bench/workers/triode-worker.js');
await run(async () => {
  const pool = new WorkerPool({ maxThreads: 2, minThreads: 2 });
  const add = (i) => runInWorker(triodeModule, 'add', [i, 1], { pool });
  const drive = async (calls, call) => { let next = 0; await openNursery(async (n) => { for (let w = 0; w < 64; w++) n.startSoon(async () => { while (next < calls) await call(next++); }); }); };
  await drive(200, add); console.error('warm');
  await drive(20000, add); console.error('trivial');
  for (let i = 0; i < 1000; i++) await add(i); console.error('latency');
  await drive(2000, () => runInWorker(triodeModule, 'burn', [1], { pool })); console.error('burn', JSON.stringify(pool.statistics()));
  for (const [name, mode] of [['spin', 'cooperative'], ['spinForever', 'kill']]) {
    const scope = new CancelScope();
    await openNursery(async (n) => {
      n.startSoon(() => scope.run(() => runInWorker(triodeModule, name, [], { pool, cancel: mode, killAfterMs: 0 })));
      await sleep(20);
      console.error('cancelling', name, JSON.stringify(pool.statistics()));
      scope.cancel();
    });
    console.error(name, 'done');
  }
  await pool.close();
});
