// Builds only what is out of date, so `npm run demo` starts in about a second on a built clone:
// the package (tsup → dist/) when src/ or its build config changed since the last build, the
// examples, tests and benches (tsc → .test-build/) when they or the package changed.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function newest(paths) {
  let latest = 0;
  const visit = (path) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else latest = Math.max(latest, stat.mtimeMs);
  };
  for (const p of paths) visit(join(root, p));
  return latest;
}

function stampTime(stamp) {
  const path = join(root, stamp);
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function build(what, command, args, stamp) {
  process.stderr.write(`building ${what}…\n`);
  execFileSync(command, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(join(root, stamp), new Date().toISOString());
}

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const packageInputs = ['src', 'tsup.config.ts', 'tsconfig.json', 'package.json'];
if (newest(packageInputs) > stampTime('dist/.built')) build('the package', npx, ['tsup'], 'dist/.built');
const testInputs = ['examples', 'test', 'bench', 'tsconfig.test.json', 'dist/.built'];
if (newest(testInputs) > stampTime('.test-build/.built')) build('the examples', npx, ['tsc', '-p', 'tsconfig.test.json'], '.test-build/.built');
