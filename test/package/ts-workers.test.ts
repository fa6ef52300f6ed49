// `.ts` worker modules: under tsx (any Node) and under Node's own type stripping (≥ 22.6).
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../../', import.meta.url));

const WORKER = `
export function add(a: number, b: number): number {
  const sum: number = a + b;
  return sum;
}
export async function slowDouble(x: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return x * 2;
}
`;
const MAIN = `
import { mapInWorkers, run, runInWorker, workerModule } from 'triode';
const worker = new URL('./worker.ts', import.meta.url);
const results = await run(async () => {
  const sum: number = await runInWorker(worker, 'add', [2, 3]);
  const mod = workerModule<typeof import('./worker.ts')>(worker);
  const doubled: number = await mod.slowDouble(21);
  const mapped: number[] = [];
  for await (const d of mapInWorkers<number, number>([1, 2, 3], worker, 'slowDouble')) mapped.push(d);
  return [sum, doubled, mapped.sort((a, b) => a - b).join(',')];
});
console.log('results', JSON.stringify(results));
`;

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'triode-ts-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'triode'), 'dir');
  symlinkSync(join(root, 'node_modules', 'tsx'), join(dir, 'node_modules', 'tsx'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'ts-consumer', private: true, type: 'module' }));
  writeFileSync(join(dir, 'worker.ts'), WORKER);
  writeFileSync(join(dir, 'main.ts'), MAIN);
  return dir;
}

function runNode(dir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: dir, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`node ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

test('.ts worker modules run under tsx (node --import tsx main.ts)', async () => {
  const dir = project();
  try {
    const out = await runNode(dir, ['--import', 'tsx', 'main.ts']);
    assert.match(out, /results \[5,42,"2,4,6"\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('.ts worker modules run under Node’s type stripping (Node ≥ 22.6)', async () => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major < 22 || (major === 22 && minor < 6)) return; // no type stripping on this Node
  const dir = project();
  try {
    const out = await runNode(dir, ['--experimental-strip-types', '--no-warnings', 'main.ts']);
    assert.match(out, /results \[5,42,"2,4,6"\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
