// `npm run examples`: runs the tutorial examples one after another and says what each shows.
const examples: Array<[file: string, what: string]> = [
  ['hello-sleep.js', 'the smallest program: run() and sleep()'],
  ['nursery-children.js', 'a nursery: the parent waits for both children'],
  ['timeout-footgun.js', 'why a timeout around startSoon does nothing, and the right way'],
  ['task-local.js', 'task-local storage: per-request ids without passing them around'],
  ['channel-producer-consumer.js', 'a channel between a producer and a consumer, closed by use()'],
  ['channel-fan-in-out.js', 'two producers and two consumers, each with its own clone()'],
  ['channel-without-clone.js', 'the same without clone(): ClosedResourceError'],
  ['sighup-reload.js', 'reload a config file on SIGHUP with openSignalReceiver'],
  ['run-process.js', 'subprocesses: awaited with captured output, and started in a nursery with piped output'],
  ['shared-channels.js', 'a worker streams a file through a shared channel; mapInWorkers over 200,000 numbers'],
  ['parallel-sort.js', 'a fork-join merge sort through nested worker calls, against one thread'],
  ['tcp-connection-ids.js', 'a TCP server (serveTcp) whose handlers set a task-local connection id'],
];

for (const [file, what] of examples) {
  console.log(`\n=== examples/${file.replace(/\.js$/, '.ts')}: ${what}`);
  await import(`./${file}`);
}
console.log('\nAll examples ran. Read them in examples/, and the tutorial in README.md.');
