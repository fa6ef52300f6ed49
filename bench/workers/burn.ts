// ~`ms` of CPU work, the same in every peer's worker (a loop that the JIT cannot remove).
export function burn(ms: number): number {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) for (let i = 0; i < 1000; i++) x = (x * 31 + i) | 0;
  return x;
}
