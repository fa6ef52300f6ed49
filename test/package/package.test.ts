// The published shape: ESM and CJS builds, and one runtime when a program loads both.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = fileURLToPath(new URL('../fixtures/worker-module.js', import.meta.url));

function runScript(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

test('the CJS build works, and ESM and CJS builds loaded together share one runtime', async () => {
  const script = `
    const t = require('triode');
    const { MockClock } = require('triode/testing');
    const w = require('triode/worker');
    (async () => {
      const esm = await import('triode');
      const v = await t.run(async () => {
        await esm.sleep(1);        // the ESM build, inside a run of the CJS build
        await t.checkpoint();
        return t.runInWorker(${JSON.stringify(fixture)}, 'add', [1, 2]);
      });
      await t.run(() => t.sleep(60000), { clock: new MockClock({ autojumpThreshold: 0 }) });
      console.log('result', v, typeof w.checkpoint);
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const out = await runScript(['-e', script]);
  assert.match(out, /result 3 function/);
});

test('the package exports map serves triode, triode/worker and triode/testing to ESM', async () => {
  const out = await runScript([
    '--input-type=module',
    '-e',
    "const a = await import('triode'); const b = await import('triode/worker'); const c = await import('triode/testing'); console.log(typeof a.run, typeof b.sleepSync, typeof c.MockClock);",
  ]);
  assert.is(out.trim(), 'function function function');
});

test('only triode/remote loads bullmq: triode works where bullmq is not installed, triode/remote says what is missing', async () => {
  const { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'triode-no-bullmq-'));
  try {
    // triode as installed from the registry (its dist/ and package.json) with its dependency, and nothing else.
    const installed = join(dir, 'node_modules', 'triode');
    mkdirSync(installed, { recursive: true });
    cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(installed, 'package.json'));
    cpSync(join(root, 'node_modules', 'comlink'), join(dir, 'node_modules', 'comlink'), { recursive: true }); // its one dependency
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(dir, 'main.mjs'),
      `const t = await import('triode');
      const c = (await import('node:module')).createRequire(import.meta.url)('triode');
      let remote = 'loaded';
      try { await import('triode/remote'); } catch (e) { remote = e.code + ' ' + /'(bullmq|ioredis)'/.exec(e.message)?.[1]; }
      console.log((await t.run(async () => 1)) + (await c.run(async () => 1)), remote);`,
    );
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [join(dir, 'main.mjs')], { cwd: dir, timeout: 30_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    assert.is(out.trim(), '2 ERR_MODULE_NOT_FOUND bullmq');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every exported class and function keeps its name in both builds (the error wire and messages read them)', async () => {
  const list = `const seen = []; for (const [label, m] of Object.entries(mods)) for (const [k, v] of Object.entries(m)) if (typeof v === 'function' && v.name !== k) seen.push(label + '.' + k + ' is named ' + v.name); console.log(JSON.stringify(seen));`;
  const cjs = await runScript(['-e', `const t = require('triode'); const mods = { triode: t, lowlevel: t.lowlevel, worker: require('triode/worker'), testing: require('triode/testing'), remote: require('triode/remote') }; ${list}`]);
  const esm = await runScript([
    '--input-type=module',
    '-e',
    `const t = await import('triode'); const mods = { triode: t, lowlevel: t.lowlevel, worker: await import('triode/worker'), testing: await import('triode/testing'), remote: await import('triode/remote') }; ${list}`,
  ]);
  assert.equal(JSON.parse(cjs), [], 'CJS');
  assert.equal(JSON.parse(esm), [], 'ESM');
});

const CONSUMER = `
import { CancelScope, ExceptionGroup, TooSlowError, failAfter, mapInWorkers, openNursery, run, sleep, workerModule } from 'triode';
import { MockClock } from 'triode/testing';
import { checkpoint } from 'triode/worker';
import { openRemotePool, type RemotePool } from 'triode/remote';

export function remote(): Promise<number> {
  return run(() =>
    openRemotePool({ redis: 'redis://127.0.0.1:6379', queue: 'q', maxInFlight: 8 }, async (pool: RemotePool) => {
      const mod = workerModule<{ add(a: number, b: number): number }>('./w.js', { pool });
      return mod.add(1, 2);
    }),
  );
}

export async function main(): Promise<number> {
  const clock = new MockClock({ autojumpThreshold: 0 });
  return run(async () => {
    const scope = new CancelScope({ relativeDeadline: 10 });
    const value: number | undefined = await scope.run(async () => 1);
    const squares: number[] = [];
    for await (const sq of mapInWorkers<number, number>([1, 2], new URL('./w.js', 'file:///'), 'square')) squares.push(sq);
    const mod = workerModule<{ add(a: number, b: number): number }>('./w.js');
    const sum: Promise<number> = mod.add(1, 2);
    void sum;
    try {
      await failAfter(5, () => sleep(10));
    } catch (error) {
      if (error instanceof TooSlowError || error instanceof ExceptionGroup) return -1;
    }
    await openNursery(async (nursery) => { nursery.startSoon(sleep, 1); });
    void checkpoint;
    return (value ?? 0) + squares.length;
  }, { clock });
}
`;

/** Type-checks a consumer of the built package with `compilerOptions` and `type` for its package.json. */
async function typecheckConsumer(compilerOptions: Record<string, unknown>, type: 'module' | 'commonjs'): Promise<void> {
  const { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'triode-consumer-'));
  try {
    mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
    symlinkSync(root, join(dir, 'node_modules', 'triode'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type }));
    writeFileSync(join(dir, 'main.ts'), CONSUMER);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'ES2022', lib: ['ES2022'], types: ['node'], skipLibCheck: false, ...compilerOptions }, files: ['main.ts'] }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, [tsc, '-p', dir], { cwd: dir, timeout: 60_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`tsc (${JSON.stringify(compilerOptions)}, ${type}) failed:\n${stdout}${stderr}`));
        else resolve();
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a consumer type-checks against the built .d.ts with no casts: node16 (ESM and CJS), nodenext, bundler', async () => {
  await typecheckConsumer({ module: 'node16', moduleResolution: 'node16' }, 'module');
  await typecheckConsumer({ module: 'node16', moduleResolution: 'node16' }, 'commonjs');
  await typecheckConsumer({ module: 'nodenext', moduleResolution: 'nodenext' }, 'module');
  await typecheckConsumer({ module: 'esnext', moduleResolution: 'bundler' }, 'module');
});

test('the package ships its LICENSE and CHANGELOG', async () => {
  const { readFileSync } = await import('node:fs');
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { files: string[]; license: string; keywords: string[] };
  assert.ok(pkg.files.includes('LICENSE') && pkg.files.includes('CHANGELOG.md'));
  assert.match(readFileSync(`${root}LICENSE`, 'utf8'), /^MIT License/);
  assert.is(pkg.license, 'MIT');
  assert.ok(pkg.keywords.includes('structured-concurrency'));
});

test.run();
