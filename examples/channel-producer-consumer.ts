// A producer and a consumer joined by a channel. `use()` closes each endpoint when its block ends
// (Trio's `async with channel`), so when the producer is done the consumer's loop ends by itself.
import { openMemoryChannel, openNursery, run, type MemoryReceiveChannel, type MemorySendChannel } from 'triode';

async function producer(sendChannel: MemorySendChannel<string>): Promise<void> {
  await sendChannel.use(async () => {
    for (let i = 0; i < 3; i++) await sendChannel.send(`message ${i}`);
  });
}

async function consumer(receiveChannel: MemoryReceiveChannel<string>): Promise<void> {
  await receiveChannel.use(async () => {
    for await (const value of receiveChannel) console.log(`  got value ${JSON.stringify(value)}`);
  });
}

await run(async () => {
  await openNursery(async (nursery) => {
    const [sendChannel, receiveChannel] = openMemoryChannel<string>(0);
    nursery.startSoon(producer, sendChannel);
    nursery.startSoon(consumer, receiveChannel);
  });
  console.log('producer finished, so the consumer loop ended: all done');
});
