// Shared by every benchmark: repeat, take medians, print one table of peers side by side.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

export interface Row {
  case: string;
  unit: string;
  /** One measurement per peer; lower is better. */
  results: Record<string, number>;
  /** Per peer, the spread of the runs behind the median: (max − min) / median. Printed as ±%. */
  spreads?: Record<string, number>;
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Measures every peer once per round, `runs` rounds, peers interleaved (so drift in the machine's
 * load hits all of them alike); returns each peer's median and spread, ready for a Row.
 */
export async function interleaved(
  runs: number,
  peers: Record<string, () => Promise<number>>,
): Promise<Pick<Row, 'results' | 'spreads'>> {
  const samples: Record<string, number[]> = {};
  for (let round = 0; round < runs; round++) {
    for (const [name, fn] of Object.entries(peers)) (samples[name] ??= []).push(await fn());
  }
  const results: Record<string, number> = {};
  const spreads: Record<string, number> = {};
  for (const [name, xs] of Object.entries(samples)) {
    results[name] = medianOf(xs);
    spreads[name] = (Math.max(...xs) - Math.min(...xs)) / results[name]!;
  }
  return { results, spreads };
}

export async function median(runs: number, fn: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await fn());
  return medianOf(values);
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error('run this benchmark with node --expose-gc (npm run bench does)');
  g();
  g();
}

/**
 * With BENCH_JSON_DIR set, each table is also written there as JSON (`<slug of title>.json`,
 * with the Node version and core count): the docs site draws its charts from these files.
 */
export function writeJson(title: string, table: object): void {
  const dir = process.env.BENCH_JSON_DIR;
  if (dir === undefined || dir === '') return;
  const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
  mkdirSync(dir, { recursive: true });
  const data = { ...table, node: process.version, cores: availableParallelism(), runs: Number(process.env.BENCH_RUNS ?? 5), date: new Date().toISOString().slice(0, 10) };
  writeFileSync(join(dir, `${slug}.json`), JSON.stringify(data, null, 2) + '\n');
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'n/a';
  if (!Number.isFinite(n)) return String(n);
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/**
 * Prints rows as a table with ratios against `base` (the triode column). `better` says which way
 * the numbers are good, so every ratio reads the same: > 1 means triode is ahead.
 */
export function printTable(title: string, rows: Row[], base = 'triode', better: 'lower' | 'higher' = 'lower'): void {
  writeJson(title, { title, base, better, rows });
  const ratio = (peer: number, ours: number) => (better === 'lower' ? peer / ours : ours / peer);
  console.log(
    `\n${title}  (node ${process.version}, ${availableParallelism()} cores, medians of ${process.env.BENCH_RUNS ?? 5} runs; ` +
      `${better} is better; ratio > 1 means ${base} is ahead)`,
  );
  const peers = [...new Set(rows.flatMap((r) => Object.keys(r.results)))];
  const header = ['case', 'unit', ...peers, ...peers.filter((p) => p !== base).map((p) => `vs ${p}`)];
  const body = rows.map((r) => [
    r.case,
    r.unit,
    ...peers.map((p) => fmt(r.results[p] ?? NaN) + (r.spreads?.[p] !== undefined && Number.isFinite(r.spreads[p]) ? ` ±${Math.round((r.spreads[p]! * 100) / 2)}%` : '')),
    ...peers.filter((p) => p !== base).map((p) => {
      const x = ratio(r.results[p] ?? NaN, r.results[base]!);
      return Number.isNaN(x) ? 'n/a' : `${x.toFixed(2)}x`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const b of body) console.log(line(b));
}
