// The same fan-in without clone(): both producers share one send endpoint, and the first one to
// finish closes it under the other's feet, which then fails with ClosedResourceError. This is why
// each task should get its own endpoint with clone().
import {
  ClosedResourceError,
  ExceptionGroup,
  openMemoryChannel,
  openNursery,
  run,
  sleep,
  type MemorySendChannel,
} from 'triode';

async function producer(name: string, sendChannel: MemorySendChannel<string>, pauseMs: number): Promise<void> {
  await sendChannel.use(async () => {
    for (let i = 0; i < 3; i++) {
      await sendChannel.send(`${i} from producer ${name}`);
      await sleep(pauseMs);
    }
  });
}

try {
  await run(async () => {
    await openNursery(async (nursery) => {
      const [sendChannel, receiveChannel] = openMemoryChannel<string>(Infinity);
      nursery.startSoon(producer, 'A', sendChannel, 10);
      nursery.startSoon(producer, 'B', sendChannel, 50);
      nursery.startSoon(async () => {
        for await (const value of receiveChannel) console.log(`  got ${JSON.stringify(value)}`);
      });
    });
  });
} catch (error) {
  const closed = error instanceof ExceptionGroup ? error.subgroup(ClosedResourceError) : undefined;
  if (closed === undefined) throw error;
  console.log(`producer B failed: ${(closed.errors[0] as Error).name}: ${(closed.errors[0] as Error).message}`);
}
