// The worker side of examples/shared-channels.ts.
import { closeSync, openSync, readSync } from 'node:fs';
import type { SharedSendChannel } from 'triode/worker';

/**
 * Reads a file in chunks and sends each through the channel; returns the bytes sent. `sendSync`
 * copies the chunk into the ring, so one buffer serves for every read; it blocks while the ring
 * is full (the reader sets the pace) and throws `Cancelled` if the caller is cancelled.
 */
export function streamFile(tx: SharedSendChannel<Uint8Array>, path: string, chunkSize: number): number {
  const buffer = new Uint8Array(chunkSize);
  const fd = openSync(path, 'r');
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, chunkSize, null);
      if (n === 0) return total;
      tx.sendSync(buffer.subarray(0, n));
      total += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Trial division: a small piece of CPU work per item, for mapInWorkers. */
export function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
