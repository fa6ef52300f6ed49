// `npm run demo [-- <dir>] [--timeout <ms>]`: SHA-256 of every file under a directory, read and
// hashed in worker threads, a batch of files per call. Calls run in a nursery, queued by a
// CapacityLimiter (one per thread);
// a progress task redraws a status line; --timeout puts a failAfter around everything; Ctrl-C
// cancels every call (the workers stop between chunks), prints what was done, and exits with 130.
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CapacityLimiter,
  checkpoint,
  failAfter,
  openNursery,
  run,
  sleep,
  workerModule,
  WorkerPool,
} from 'triode';
import { endProgram } from './program-exit.js';
import { sha256FileHere } from './hash-worker.js';

const threads = availableParallelism();
// At most one call per thread at a time; the rest wait here (a cancellable wait).
const limiter = new CapacityLimiter(threads);
// Threads started up front (minThreads), so the timing below is of hashing, not of starting them.
const pool = new WorkerPool({ maxThreads: threads, minThreads: threads });
const hasher = workerModule<typeof import('./hash-worker.js')>(new URL('./hash-worker.js', import.meta.url), { limiter, pool });

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

/** The same work on the main thread alone, for comparison: seconds (of the second of two passes). */
async function hashOnMainThread(files: string[]): Promise<number> {
  let seconds = 0;
  for (let pass = 0; pass < 2; pass++) {
    const t0 = performance.now();
    for (const file of files) {
      try {
        sha256FileHere(file);
      } catch (error) {
        // unreadable files are reported by the worker pass; anything else is a bug
        if ((error as NodeJS.ErrnoException).code === undefined) throw error;
      }
      await checkpoint(); // so Ctrl-C and the timeout reach this loop too
    }
    seconds = (performance.now() - t0) / 1000;
  }
  return seconds;
}

async function listFiles(dir: string, out: string[] = []): Promise<string[]> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await listFiles(path, out);
    else if (entry.isFile()) {
      out.push(path);
      sizes.set(path, (await stat(path)).size);
    }
  }
  return out;
}

/**
 * Groups files into calls of up to 64 files or 4 MB: a worker call costs tens of microseconds,
 * more than hashing a small file, so one call per file would spend most of its time on calls.
 */
function* batches(files: string[]): Generator<string[]> {
  let batch: string[] = [];
  let bytes = 0;
  for (const file of files) {
    batch.push(file);
    bytes += sizes.get(file) ?? 0;
    if (batch.length === 64 || bytes >= 4e6) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) yield batch;
}

const sizes = new Map<string, number>();

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
      // Every file read once first, so both timed passes below see the same warm file cache.
      const mainSeconds = await hashOnMainThread(files);
      await hasher.sha256Files([]); // the worker module loaded in a thread
      progress.started = performance.now();
      console.log(`hashing ${files.length} files under ${options.dir} on ${threads} worker threads`);
      await openNursery(async (nursery) => {
        nursery.startSoon(showProgress);
        await openNursery(async (calls) => {
          for (const batch of batches(files)) {
            calls.startSoon(async () => {
              const results = await hasher.sha256Files(batch);
              results.forEach(({ bytes, digest }, i) => {
                digests.set(batch[i]!, digest);
                progress.files++;
                progress.bytes += bytes;
              });
            });
          }
        });
        nursery.cancelScope.cancel(); // stop the progress task
      });
      summary('done');
      const workerSeconds = (performance.now() - progress.started) / 1000;

      console.log(
        `main thread alone: ${mainSeconds.toFixed(2)} s; worker threads: ${workerSeconds.toFixed(2)} s; ` +
          `speed-up ${(mainSeconds / workerSeconds).toFixed(2)}x`,
      );
      if (mainSeconds < workerSeconds) {
        console.log(
          '  (the main thread won: these files are small or few, so moving them to threads costs more than it\n' +
            '   saves; a folder of large files shows the speed-up)',
        );
      }
      const sample = [...digests].slice(0, 3);
      for (const [file, digest] of sample) console.log(`  ${digest.slice(0, 16)}…  ${file}`);
    });
  });
} catch (error) {
  endProgram(error, summary, options.timeoutMs);
} finally {
  await pool.close();
}
