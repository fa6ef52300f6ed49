/**
 * The loop each worker of `mapInWorkers` runs: take a batch from the input channel, apply the
 * user's export to each item, put the batch's results (or its error, at the first failing item)
 * on the output channel, until the input ends (the wire forms: shared/map-wire.ts). Batches
 * amortize the per-frame cost over many small items. Loaded by path, like the worker entry.
 */
import { errorToWire } from '../shared/error-wire.js';
import { packNumbers, type MapJob, type MapResult } from '../shared/map-wire.js';
import { isThenable, loadExport } from './load-export.js';
import type { SharedReceiveChannel, SharedSendChannel } from '../main/channels/shared-channel.js';

export async function mapLoop(
  input: SharedReceiveChannel<MapJob>,
  output: SharedSendChannel<MapResult>,
  url: string,
  exportName: string,
): Promise<number> {
  const apply = await loadExport(url, exportName);
  let done = 0;
  for (const job of input.syncIterator()) {
    // A packed batch of numbers is read in place: its items are job[1…].
    const packed = job instanceof Float64Array;
    const batch = packed ? job[0]! : job[0];
    const items: ArrayLike<unknown> = packed ? job.subarray(1) : job[1];
    const values = new Array<unknown>(items.length);
    try {
      for (let i = 0; i < items.length; i++) {
        let value = apply(items[i]);
        // Async or not is decided by what it returns: anything thenable is awaited.
        if (isThenable(value)) value = await value;
        values[i] = value;
      }
    } catch (error) {
      output.sendSync([batch, undefined, errorToWire(error)]);
      return done;
    }
    output.sendSync(packNumbers(batch, values) ?? [batch, values]);
    done += items.length;
  }
  return done;
}
