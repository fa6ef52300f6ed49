// `npm run bench`: every benchmark, one after another, each in its own process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benches = ['core.js', 'channels.js', 'workers.js', 'shared-channels.js', 'net.js', 'files.js'];
for (const file of benches) {
  const path = fileURLToPath(new URL(`./${file}`, import.meta.url));
  const result = spawnSync(process.execPath, ['--expose-gc', path], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
