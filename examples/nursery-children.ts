// A parent task and two children in a nursery: the parent's block ends only when both are done.
import { openNursery, run, sleep } from 'triode';

async function child1(): Promise<void> {
  console.log('  child1: started! sleeping now...');
  await sleep(200);
  console.log('  child1: exiting!');
}

async function child2(): Promise<void> {
  console.log('  child2: started! sleeping now...');
  await sleep(100);
  console.log('  child2: exiting!');
}

await run(async function parent() {
  console.log('parent: started!');
  await openNursery(async (nursery) => {
    console.log('parent: spawning child1...');
    nursery.startSoon(child1);
    console.log('parent: spawning child2...');
    nursery.startSoon(child2);
    console.log('parent: waiting for children to finish...');
  });
  console.log('parent: all done!');
});
