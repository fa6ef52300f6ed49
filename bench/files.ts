// `npm run bench:files`: reading files through triode's Path against fs.promises used directly
// and against fs.readFileSync, with the main thread's responsiveness measured throughout (the
// largest event-loop delay, seen by a 1 ms interval).
//
// Cases: 10,000 files of 1 KiB (64 reads in flight for the async peers), and 10 files of 64 MiB
// read one after another, as bytes and as UTF-8 text.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import { Path, openNursery, run } from 'triode';
import { printTable, type Row } from './harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SMALL_COUNT = Number(process.env.FILES_SMALL ?? 10_000);
const BIG_COUNT = Number(process.env.FILES_BIG ?? 10);
const BIG_SIZE = 64 << 20;
const IN_FLIGHT = 64;

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'triode-bench-files-'));
const small = Array.from({ length: SMALL_COUNT }, (_, i) => nodePath.join(dir, `small-${i}.txt`));
const big = Array.from({ length: BIG_COUNT }, (_, i) => nodePath.join(dir, `big-${i}.txt`));
for (const file of small) fs.writeFileSync(file, 'x'.repeat(1024));
const bigContent = Buffer.alloc(BIG_SIZE, 'abcdefghij\n');
for (const file of big) fs.writeFileSync(file, bigContent);
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

interface Measure {
  ms: number;
  maxDelayMs: number;
}

/**
 * Runs `fn`, timing it and recording the largest event-loop delay meanwhile: a 1 ms interval
 * notes how late each tick comes (so a synchronous peer's blocking shows in full; a histogram
 * from perf_hooks misses a block that starts before its first tick).
 */
async function measure(fn: () => Promise<unknown> | unknown): Promise<Measure> {
  let last = performance.now();
  let maxDelayMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxDelayMs = Math.max(maxDelayMs, now - last - 1);
    last = now;
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, 3)); // the ticker is running
  last = performance.now();
  const start = performance.now();
  await fn();
  const ms = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 3)); // a late tick is recorded
  clearInterval(ticker);
  return { ms, maxDelayMs: Math.max(0, maxDelayMs) };
}

/** Reads every file with `read`, `IN_FLIGHT` at a time, with plain promises. */
async function promisePool(files: string[], read: (file: string) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < files.length) await read(files[next++]!);
    }),
  );
}

/** Reads every file with `read`, `IN_FLIGHT` at a time, in as many triode tasks. */
async function taskPool(files: string[], read: (file: string) => Promise<unknown>): Promise<void> {
  let next = 0;
  await openNursery(async (nursery) => {
    for (let i = 0; i < IN_FLIGHT; i++) {
      nursery.startSoon(async () => {
        while (next < files.length) await read(files[next++]!);
      });
    }
  });
}

type Peer = 'triode Path' | 'fs.promises' | 'readFileSync';
const cases: Array<[name: string, unit: string, peers: Record<Peer, () => Promise<unknown> | unknown>]> = [
  [`${SMALL_COUNT} x 1 KiB, bytes`, 'ms', {
    'triode Path': () => run(() => taskPool(small, (f) => new Path(f).readBytes())),
    'fs.promises': () => promisePool(small, (f) => fsp.readFile(f)),
    readFileSync: () => small.forEach((f) => fs.readFileSync(f)),
  }],
  [`${BIG_COUNT} x 64 MiB, bytes`, 'ms', {
    'triode Path': () => run(async () => { for (const f of big) await new Path(f).readBytes(); }),
    'fs.promises': async () => { for (const f of big) await fsp.readFile(f); },
    readFileSync: () => big.forEach((f) => fs.readFileSync(f)),
  }],
  [`${BIG_COUNT} x 64 MiB, text`, 'ms', {
    'triode Path': () => run(async () => { for (const f of big) await new Path(f).readText(); }),
    'fs.promises': async () => { for (const f of big) await fsp.readFile(f, 'utf8'); },
    readFileSync: () => big.forEach((f) => fs.readFileSync(f, 'utf8')),
  }],
];

const timeRows: Row[] = [];
const delayRows: Row[] = [];
for (const [name, unit, peers] of cases) {
  const results: Record<string, Measure[]> = {};
  for (const peer of Object.keys(peers) as Peer[]) await measure(peers[peer]); // warm up
  for (let i = 0; i < RUNS; i++) {
    for (const peer of Object.keys(peers) as Peer[]) (results[peer] ??= []).push(await measure(peers[peer]));
  }
  const med = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  timeRows.push({ case: name, unit, results: Object.fromEntries(Object.entries(results).map(([p, m]) => [p, med(m.map((x) => x.ms))])) });
  delayRows.push({
    case: name,
    unit: 'ms',
    results: Object.fromEntries(Object.entries(results).map(([p, m]) => [p, med(m.map((x) => x.maxDelayMs))])),
  });
}
printTable('bench/files: time to read', timeRows, 'triode Path');
printTable('bench/files: largest event-loop delay while reading', delayRows, 'triode Path');
