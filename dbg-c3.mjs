import { run, runInWorker, WorkerPool, CancelScope, openNursery, sleep } from 'triode';
const base = new URL('./.test-build/bench/workers/triode-worker.js', import.meta.url).href;
await run(async () => {
  const pool = new WorkerPool({ maxThreads: 2 });
  await runInWorker(base, 'add', [1, 2], { pool });
  for (const mode of ['first call', 'known sync']) {
    const times = [];
    for (let i = 0; i < 15; i++) {
      const url = mode === 'first call' ? `${base}?${i}` : base;
      const scope = new CancelScope();
      let t0 = 0;
      await openNursery(async (n) => {
        n.startSoon(() => scope.run(() => runInWorker(url, 'spin', [], { pool })));
        await sleep(30);
        t0 = performance.now();
        scope.cancel();
      });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(mode, 'median', times[7].toFixed(2), 'ms; min', times[0].toFixed(2), 'max', times[14].toFixed(2));
  }
  await pool.close();
});
