// A timeout wrapped around startSoon does nothing: startSoon only schedules the child, and the
// child runs under the nursery's scopes, not under the scopes around the call. Put the timeout
// inside the child (or around the whole nursery).
import { currentTime, moveOnAfter, openNursery, run, sleep } from 'triode';

async function slowJob(name: string): Promise<void> {
  await sleep(300);
  console.log(`  ${name}: finished after ${Math.round(currentTime() - started)} ms`);
}

async function slowJobWithTimeout(name: string): Promise<void> {
  const result = await moveOnAfter(100, async () => {
    await slowJob(name);
    return 'done';
  });
  if (result === undefined) console.log(`  ${name}: timed out after 100 ms, as intended`);
}

let started = 0;
await run(async () => {
  started = currentTime();
  console.log('wrong: moveOnAfter around startSoon');
  await openNursery(async (nursery) => {
    await moveOnAfter(100, async () => {
      nursery.startSoon(slowJob, 'job A'); // returns at once; the 100 ms timeout covers nothing
    });
  });

  started = currentTime();
  console.log('right: moveOnAfter inside the child');
  await openNursery(async (nursery) => {
    nursery.startSoon(slowJobWithTimeout, 'job B');
  });
});
