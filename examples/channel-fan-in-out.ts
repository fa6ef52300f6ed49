// Two producers and two consumers on one channel. Each task gets its own endpoint with clone()
// and closes it when done; the channel ends only when every send endpoint is closed.
import {
  openMemoryChannel,
  openNursery,
  run,
  sleep,
  type MemoryReceiveChannel,
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

let received = 0;

async function consumer(name: string, receiveChannel: MemoryReceiveChannel<string>, pauseMs: number): Promise<void> {
  await receiveChannel.use(async () => {
    for await (const value of receiveChannel) {
      console.log(`  consumer ${name} got value ${JSON.stringify(value)}`);
      received++;
      await sleep(pauseMs);
    }
  });
}

await run(async () => {
  await openNursery(async (nursery) => {
    const [sendChannel, receiveChannel] = openMemoryChannel<string>(0);
    await sendChannel.use(() => receiveChannel.use(async () => {
      nursery.startSoon(producer, 'A', sendChannel.clone(), 30);
      nursery.startSoon(producer, 'B', sendChannel.clone(), 50);
      nursery.startSoon(consumer, 'X', receiveChannel.clone(), 20);
      nursery.startSoon(consumer, 'Y', receiveChannel.clone(), 40);
    }));
  });
  console.log(`all ${received} values were received; every endpoint is closed`);
});
