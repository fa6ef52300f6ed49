// The same functions for piscina and tinypool, which call a module's default export with one task.
import { burn } from './burn.js';

export default function task({ op, a, b, items }: { op: 'add' | 'spin' | 'burn' | 'batch'; a: number; b: number; items?: number[] }): number | number[] {
  if (op === 'spin') for (;;);
  if (op === 'batch') return items!.map((x) => x); // the identity of bench/shared-channels, over a hand-made batch
  if (op === 'burn') return burn(a);
  return a + b;
}
