// `npm run demo [-- <dir>] [--timeout <ms>]`: SHA-256 of every file under a directory, read and
// hashed in worker threads. Calls run in a nursery, queued by a CapacityLimiter (one per thread);
// a progress task redraws a status line; --timeout puts a failAfter around everything; Ctrl-C
// cancels every call (the workers stop between chunks), prints what was done, and exits with 130.
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CapacityLimiter,
  KeyboardInterrupt,
  TooSlowError,
  checkpoint,
  failAfter,
  moveOnAfter,
  openNursery,
  run,
  sleep,
  workerModule,
} from 'triode';
import { sha256File } from './hash-worker.js';

const threads = availableParallelism();
// At most one call per thread at a time; the rest wait here (a cancellable wait).
const limiter = new CapacityLimiter(threads);
const hasher = workerModule<typeof import('./hash-worker.js')>(new URL('./hash-worker.js', import.meta.url), { limiter });

interface Options {
  dir: string;
  timeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  let dir = fileURLToPath(new URL('../..', import.meta.url)); // the package folder
  let timeoutMs = Infinity;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--timeout') {
      timeoutMs = Number(argv[++i]);
      if (!(timeoutMs >= 0)) throw new RangeError(`--timeout needs a number of milliseconds, got ${argv[i]}`);
    } else {
      dir = resolve(arg);
    }
  }
  return { dir, timeoutMs };
}

async function listFiles(dir: string, out: string[] = []): Promise<string[]> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await listFiles(path, out);
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

const progress = { files: 0, bytes: 0, total: 0, started: 0 };
const tty = process.stdout.isTTY === true;

function statusLine(): string {
  const seconds = (performance.now() - progress.started) / 1000;
  const mb = progress.bytes / 1e6;
  const width = 24;
  const filled = progress.total === 0 ? width : Math.round((progress.files / progress.total) * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `[${bar}] ${progress.files}/${progress.total} files  ${mb.toFixed(1)} MB  ${(mb / Math.max(seconds, 1e-3)).toFixed(1)} MB/s`;
}

async function showProgress(): Promise<void> {
  for (;;) {
    await sleep(tty ? 100 : 1000);
    if (tty) process.stdout.write(`\r${statusLine()}`);
    else console.log(statusLine());
  }
}

function summary(what: string): void {
  if (tty) process.stdout.write('\n');
  const seconds = (performance.now() - progress.started) / 1000;
  console.log(`${what}: ${progress.files} of ${progress.total} files, ${(progress.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s`);
}

const options = parseArgs(process.argv.slice(2));
const digests = new Map<string, string>();

try {
  await run(async () => {
    await failAfter(options.timeoutMs, async () => {
      const files = await listFiles(options.dir);
      progress.total = files.length;
      progress.started = performance.now();
      console.log(`hashing ${files.length} files under ${options.dir} on ${threads} worker threads`);
      await openNursery(async (nursery) => {
        nursery.startSoon(showProgress);
        await openNursery(async (calls) => {
          for (const file of files) {
            calls.startSoon(async () => {
              const { bytes, digest } = await hasher.sha256File(file).catch((error: unknown) => {
                // A file that vanished or cannot be read is reported, not fatal.
                if ((error as NodeJS.ErrnoException).code !== undefined) return { bytes: 0, digest: `error: ${(error as Error).message}` };
                throw error;
              });
              digests.set(file, digest);
              progress.files++;
              progress.bytes += bytes;
            });
          }
        });
        nursery.cancelScope.cancel(); // stop the progress task
      });
      summary('done');
      const workerSeconds = (performance.now() - progress.started) / 1000;

      // The same work on the main thread alone, for comparison (run second, on a warm file cache).
      const t0 = performance.now();
      await moveOnAfter(60_000, async () => {
        for (const file of files) {
          try {
            sha256File(file);
          } catch {
            // unreadable files were reported above
          }
          await checkpoint(); // so Ctrl-C and the timeout reach this loop too
        }
      });
      const mainSeconds = (performance.now() - t0) / 1000;
      console.log(
        `main thread alone: ${mainSeconds.toFixed(2)} s; worker threads: ${workerSeconds.toFixed(2)} s; ` +
          `speed-up ${(mainSeconds / workerSeconds).toFixed(2)}x`,
      );
      const sample = [...digests].slice(0, 3);
      for (const [file, digest] of sample) console.log(`  ${digest.slice(0, 16)}…  ${file}`);
    });
  });
} catch (error) {
  if (error instanceof KeyboardInterrupt) {
    summary('interrupted');
    process.exitCode = 130;
  } else if (error instanceof TooSlowError) {
    summary(`timed out after ${options.timeoutMs} ms`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
