// The same functions for piscina and tinypool, which call a module's default export with one task.
import { burn } from './burn.js';

export default function task({ op, a, b }: { op: 'add' | 'spin' | 'burn'; a: number; b: number }): number {
  if (op === 'spin') for (;;);
  if (op === 'burn') return burn(a);
  return a + b;
}
