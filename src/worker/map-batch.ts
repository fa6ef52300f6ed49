/**
 * What `mapInWorkers` runs on a pool that shares no memory with the caller (a RemotePool): one
 * call per batch of items, applying the user's export to each in order. The first item that
 * throws ends the batch with its error. Loaded by path, like the map loop.
 */
import { isThenable, loadExport } from './load-export.js';

export async function mapBatch(url: string, exportName: string, items: unknown[]): Promise<unknown[]> {
  if (typeof url !== 'string' || typeof exportName !== 'string' || !Array.isArray(items)) {
    throw new TypeError('mapBatch: expected a module URL, an export name and an array of items');
  }
  const apply = await loadExport(url, exportName);
  const values = new Array<unknown>(items.length);
  for (let i = 0; i < items.length; i++) {
    let value = apply(items[i]);
    if (isThenable(value)) value = await value;
    values[i] = value;
  }
  return values;
}
