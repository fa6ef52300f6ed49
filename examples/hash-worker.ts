// The worker side of the hash demo: read a file and hash it, off the main thread.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { checkpoint } from 'triode/worker';

const CHUNK = 1 << 20;

/** SHA-256 of a file, read in 1 MiB chunks; in a worker call, stops between chunks if the caller is cancelled. */
export function sha256File(path: string): { bytes: number; digest: string } {
  return hashFile(path, checkpoint);
}

/** The same on the calling thread, with no worker call around it (the demo's comparison). */
export function sha256FileHere(path: string): { bytes: number; digest: string } {
  return hashFile(path, () => {});
}

function hashFile(path: string, betweenChunks: () => void): { bytes: number; digest: string } {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, 'r');
  let bytes = 0;
  try {
    for (;;) {
      betweenChunks();
      const n = readSync(fd, buffer, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { bytes, digest: hash.digest('hex') };
}

/** SHA-256 of several files in one call (a worker call costs tens of µs: batch small files). */
export function sha256Files(paths: string[]): Array<{ bytes: number; digest: string }> {
  return paths.map((path) => {
    try {
      return sha256File(path);
    } catch (error) {
      return { bytes: 0, digest: `error: ${(error as Error).message}` };
    }
  });
}
