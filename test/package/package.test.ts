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

test.run();
