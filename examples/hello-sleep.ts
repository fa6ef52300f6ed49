// The smallest triode program: one run, one sleep.
import { currentTime, run, sleep } from 'triode';

async function doubleSleep(ms: number): Promise<number> {
  const start = currentTime();
  await sleep(2 * ms);
  return currentTime() - start;
}

const slept = await run(() => doubleSleep(150));
console.log(`hello from triode: slept ${slept >= 300 ? 'at least 300' : slept} ms`);
