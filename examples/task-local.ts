// Task-local storage: each request handler sets its own request id, and every log line written
// by the handler (and by tasks it starts) carries it, with no id passed around by hand.
import { TaskLocal, openNursery, run, sleep } from 'triode';

const requestId = new TaskLocal<number>('requestId');

function log(message: string): void {
  console.log(`  request ${requestId.get()}: ${message}`);
}

async function fetchPart(part: string, ms: number): Promise<void> {
  await sleep(ms);
  log(`fetched ${part}`);
}

async function handleRequest(id: number): Promise<void> {
  requestId.set(id);
  log('started');
  await openNursery(async (nursery) => {
    nursery.startSoon(fetchPart, 'header', 10 * id);
    nursery.startSoon(fetchPart, 'body', 15 * id);
  });
  log('finished');
}

await run(async () => {
  await openNursery(async (nursery) => {
    for (let id = 1; id <= 3; id++) nursery.startSoon(handleRequest, id);
  });
  console.log('every handler saw only its own request id');
});
