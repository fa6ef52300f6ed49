/**
 * The loop each worker of `mapInWorkers` runs: take a batch `[batchNumber, items]` from the
 * input channel, apply the user's export to each item, put `[batchNumber, results]` (or
 * `[batchNumber, undefined, error]` at the first failing item) on the output channel, until the
 * input ends. Batches amortize the per-frame cost over many small items. Loaded by path, like the
 * worker entry.
 */
import { errorToWire } from '../shared/error-wire.js';
import { isThenable, loadExport } from './load-export.js';
import type { SharedReceiveChannel, SharedSendChannel } from '../main/channels/shared-channel.js';

type Job = [batch: number, items: unknown[]];
export type MapResult = [batch: number, values: unknown[]] | [batch: number, values: undefined, error: unknown];

export async function mapLoop(
  input: SharedReceiveChannel<Job>,
  output: SharedSendChannel<MapResult>,
  url: string,
  exportName: string,
): Promise<number> {
  const apply = await loadExport(url, exportName);
  let done = 0;
  for (const [batch, items] of input.syncIterator()) {
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
    output.sendSync([batch, values]);
    done += items.length;
  }
  return done;
}
