// The worker side of the hash demo: read a file and hash it, off the main thread.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { checkpoint } from 'triode/worker';

const CHUNK = 1 << 20;

/** SHA-256 of a file, read in 1 MiB chunks; stops between chunks if the caller is cancelled. */
export function sha256File(path: string): { bytes: number; digest: string } {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, 'r');
  let bytes = 0;
  try {
    for (;;) {
      checkpoint();
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
