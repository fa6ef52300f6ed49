import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

/**
 * keepNames keeps our classes' names (the error wire and messages read `constructor.name`;
 * without it the CJS build names most classes `_class`). Its helper, though, also runs on every
 * arrow function each time one is created — a `defineProperty` per closure, which halved worker
 * calls' throughput (22.9k → 48k calls/s without it, in a 64-in-flight loop of trivial calls).
 * Arrow functions need no help: JavaScript names them after their binding, which the bundler
 * leaves alone (it renames only clashing constants here). So after each build the helper skips
 * functions without a prototype (arrows, async functions, methods) and still names the rest.
 */
const NAME_HELPER = 'var __name = (target, value) => __defProp(target, "name", { value, configurable: true });';
const LEAN_NAME_HELPER =
  'var __name = (target, value) => typeof target === "function" && target.prototype === void 0 ? target : __defProp(target, "name", { value, configurable: true });';

function leanNameHelper(): void {
  let found = 0;
  for (const file of readdirSync('dist')) {
    if (!/\.c?js$/.test(file)) continue;
    const text = readFileSync(`dist/${file}`, 'utf8');
    if (!text.includes(NAME_HELPER)) continue;
    writeFileSync(`dist/${file}`, text.replace(NAME_HELPER, LEAN_NAME_HELPER));
    found++;
  }
  // A new esbuild that writes the helper differently must not silently bring the cost back.
  if (found === 0) throw new Error("tsup.config.ts: esbuild's __name helper was not found in dist/ (update NAME_HELPER)");
}

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    worker: 'src/worker.ts',
    testing: 'src/testing.ts',
    remote: 'src/remote.ts',
    // The triode-worker command (bin/triode-worker.mjs imports it).
    'remote-cli': 'src/remote/cli.ts',
    // Loaded by the pool's threads by path (see src/main/workers/pool.ts), never imported.
    'worker-entry': 'src/worker/entry.ts',
    'map-loop': 'src/worker/map-loop.ts',
    'map-batch': 'src/worker/map-batch.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: false,
  keepNames: true,
  // import.meta.url in the CJS build (the pool finds worker-entry.js next to itself).
  shims: true,
  onSuccess: async () => leanNameHelper(),
});
