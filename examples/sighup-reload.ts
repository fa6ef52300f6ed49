// The classic daemon loop: reload the configuration on SIGHUP, without restarting. Inside
// openSignalReceiver the signal is delivered to the loop instead of killing the process; after
// the block, nothing of triode stays installed.
//
// To stay a self-contained demo it plays the operator too: it edits the config file and sends
// itself SIGHUP (`kill -HUP <pid>` from a shell does the same).
import os from 'node:os';
import { Path, moveOnAfter, openNursery, openSignalReceiver, run, sleep } from 'triode';

const config = new Path(os.tmpdir(), `triode-sighup-${process.pid}.json`);

async function loadConfig(): Promise<{ greeting: string }> {
  return JSON.parse(await config.readText()) as { greeting: string };
}

await run(async () => {
  await config.writeText(JSON.stringify({ greeting: 'hello' }));
  let current = await loadConfig();
  console.log(`pid ${process.pid}: config says "${current.greeting}"`);
  try {
    await openSignalReceiver(['SIGHUP'], async (signals) => {
      await openNursery(async (nursery) => {
        nursery.startSoon(async () => {
          // The operator: edit the file, then ask for a reload, twice.
          for (const greeting of ['bonjour', 'hola']) {
            await sleep(50);
            await config.writeText(JSON.stringify({ greeting }));
            process.kill(process.pid, 'SIGHUP');
          }
        });
        let reloads = 0;
        await moveOnAfter(10_000, async () => {
          for await (const signal of signals) {
            current = await loadConfig();
            console.log(`${signal}: reloaded, config now says "${current.greeting}"`);
            if (++reloads === 2) break;
          }
        });
      });
    });
  } finally {
    await config.unlink({ missingOk: true });
  }
  console.log(`done; SIGHUP listeners left installed: ${process.listenerCount('SIGHUP')}`);
});
