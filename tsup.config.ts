import { defineConfig } from 'tsup';

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
});
