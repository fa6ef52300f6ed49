// bench/after-run: what a program pays for triode once its runs are over.
//   npm run bench:after-run
//
// A program that uses triode for one part must not get slower everywhere else. Each round starts
// fresh processes (a process cannot be "before triode" again once a run has happened), in
// interleaved order:
//   - clean:      triode never imported; plain promise loops;
//   - after run:  triode imported, one run done and ended, then the same loops;
//   - during run: the same loops inside a run (what triode's context costs while it is in use);
//   - hook on:    triode never imported, an AsyncLocalStorage left enabled (the cost before the fix).
// Workloads: `await null` in a loop (ns each) and p-limit (jobs/s → µs per job).
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { writeJson } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const AWAITS = 2_000_000;
const JOBS = 100_000;

type Mode = 'clean' | 'after run' | 'during run' | 'hook on';
const MODES: Mode[] = ['clean', 'after run', 'during run', 'hook on'];

async function workload(): Promise<{ awaitNs: number; plimitUs: number }> {
  const { default: pLimit } = await import('p-limit');
  let t0 = performance.now();
  for (let i = 0; i < AWAITS; i++) await null;
  const awaitNs = ((performance.now() - t0) * 1e6) / AWAITS;
  const limit = pLimit(16);
  t0 = performance.now();
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < JOBS; i++) jobs.push(limit(async () => {}));
  await Promise.all(jobs);
  const plimitUs = ((performance.now() - t0) * 1e3) / JOBS;
  return { awaitNs, plimitUs };
}

async function child(mode: Mode): Promise<void> {
  let result: { awaitNs: number; plimitUs: number };
  if (mode === 'clean') {
    result = await workload();
  } else if (mode === 'hook on') {
    const { AsyncLocalStorage } = await import('node:async_hooks');
    new AsyncLocalStorage().enterWith(1);
    result = await workload();
  } else {
    const triode = await import('triode');
    if (mode === 'after run') {
      await triode.run(async () => {
        await triode.sleep(1);
      });
      result = await workload();
    } else {
      result = await triode.run(() => workload());
    }
  }
  process.stdout.write(JSON.stringify(result));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]!.toFixed(1)}–${s[s.length - 1]!.toFixed(1)}`;
}

function main(): void {
  const self = fileURLToPath(import.meta.url);
  const samples = new Map<Mode, Array<{ awaitNs: number; plimitUs: number }>>(MODES.map((m) => [m, []]));
  for (let round = 0; round < RUNS; round++) {
    // Rotate the order each round so no mode always runs first.
    for (let k = 0; k < MODES.length; k++) {
      const mode = MODES[(k + round) % MODES.length]!;
      const out = spawnSync(process.execPath, [self, mode], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`${mode}: ${out.stderr}`);
      samples.get(mode)!.push(JSON.parse(out.stdout));
    }
  }
  console.log(
    `\nafter-run: what promises cost outside and inside a run  (node ${process.version}, ${availableParallelism()} cores, ` +
      `medians of ${RUNS} interleaved rounds, each mode in a fresh process; lower is better)`,
  );
  const clean = samples.get('clean')!;
  writeJson(`after-run ${process.version.split('.')[0]}`, {
    title: `Promises outside and inside a run (Node ${process.version})`,
    base: 'clean',
    better: 'lower',
    rows: [
      { case: 'await null', unit: 'ns', results: Object.fromEntries(MODES.map((m) => [m, median(samples.get(m)!.map((x) => x.awaitNs))])) },
      { case: 'p-limit job', unit: 'µs', results: Object.fromEntries(MODES.map((m) => [m, median(samples.get(m)!.map((x) => x.plimitUs))])) },
    ],
  });
  console.log('| mode | await null (ns) | spread | vs clean | p-limit job (µs) | spread | vs clean |');
  console.log('|---|---|---|---|---|---|---|');
  for (const mode of MODES) {
    const s = samples.get(mode)!;
    const a = s.map((x) => x.awaitNs);
    const p = s.map((x) => x.plimitUs);
    console.log(
      `| ${mode} | ${median(a).toFixed(1)} | ${spread(a)} | ${(median(a) / median(clean.map((x) => x.awaitNs))).toFixed(2)}x | ` +
        `${median(p).toFixed(2)} | ${spread(p)} | ${(median(p) / median(clean.map((x) => x.plimitUs))).toFixed(2)}x |`,
    );
  }
}

const mode = process.argv[2] as Mode | undefined;
if (mode === undefined) main();
else await child(mode);
