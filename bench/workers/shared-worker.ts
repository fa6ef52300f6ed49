// The worker side of bench/shared-channels.
import type { SharedSendChannel } from 'triode/worker';

/** Sends `count` chunks of `size` bytes as fast as the channel takes them. */
export function produceBytes(tx: SharedSendChannel<Uint8Array>, count: number, size: number): number {
  const chunk = new Uint8Array(size).fill(7);
  for (let i = 0; i < count; i++) tx.sendSync(chunk);
  return count;
}

/** The same, handing the channel `batch` chunks per sendBatchSync. */
export function produceBytesBatched(tx: SharedSendChannel<Uint8Array>, count: number, size: number, batch: number): number {
  const chunk = new Uint8Array(size).fill(7);
  const values = Array.from({ length: batch }, () => chunk);
  for (let sent = 0; sent < count; sent += batch) tx.sendBatchSync(sent + batch <= count ? values : values.slice(0, count - sent));
  return count;
}

export function identity(x: number): number {
  return x;
}
