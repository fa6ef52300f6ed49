/**
 * How `mapInWorkers` moves batches between the consumer and its worker loops, through two shared
 * channels: jobs `[batch, items]` in, results `[batch, values]` (or `[batch, undefined, error]`)
 * out, numbered so the consumer can put them back in order.
 *
 * A batch of numbers (items or results) travels packed instead: one Float64Array,
 * `[batch, ...values]`, which a shared channel carries as raw bytes (codec.ts). A batch of 256
 * numbers through the v8 serializer costs the reading thread ~10 µs to deserialize and more to
 * collect; packed it is one copy. Only arrays triode built itself are packed (the map's own item
 * and result arrays: no holes, no extra properties the serializer would have kept).
 */

export type MapJob = [batch: number, items: unknown[]] | Float64Array;
export type MapResult = [batch: number, values: unknown[]] | [batch: number, values: undefined, error: unknown] | Float64Array;

/** Below this many values the check and the copy are not worth it. */
const MIN_PACKED = 16;

/** `[batch, ...values]` as one Float64Array, or undefined when a value is not a number (or there are few). */
export function packNumbers(batch: number, values: readonly unknown[]): Float64Array | undefined {
  const count = values.length;
  if (count < MIN_PACKED) return undefined;
  for (let i = 0; i < count; i++) if (typeof values[i] !== 'number') return undefined;
  const packed = new Float64Array(count + 1);
  packed[0] = batch;
  for (let i = 0; i < count; i++) packed[i + 1] = values[i] as number;
  return packed;
}

/** The values of a packed batch, as a plain array. */
export function unpackNumbers(packed: Float64Array): number[] {
  const count = packed.length - 1;
  const values = new Array<number>(count);
  for (let i = 0; i < count; i++) values[i] = packed[i + 1]!;
  return values;
}
