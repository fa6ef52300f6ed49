// The same functions for piscina and tinypool, which call a module's default export with one task.
export default function task({ op, a, b }: { op: 'add' | 'spin'; a: number; b: number }): number {
  if (op === 'spin') for (;;);
  return a + b;
}
