// Subprocesses two ways: awaited (runProcess returns when the child is done, with its output),
// and started in a nursery (nursery.start returns the running Process; read its stdout while it
// runs; cancelling the nursery terminates it).
import { openNursery, run, runProcess } from 'triode';

const node = (code: string) => [process.execPath, '-e', code];

await run(async () => {
  // 1. Awaited: capture the output; a failure raises CalledProcessError.
  const { stdout } = await runProcess(node('console.log(`node ${process.version} says hi`)'), {
    captureStdout: true,
    encoding: 'utf8',
  });
  console.log(`awaited: ${stdout.trim()}`);

  // 2. Started: a child that ticks forever; read three lines as they come, then cancel.
  await openNursery(async (nursery) => {
    const ticker = await nursery.start(
      runProcess,
      node('let n = 0; setInterval(() => console.log(`tick ${++n}`), 20)'),
      { stdout: 'pipe' },
    );
    console.log(`started: pid ${ticker.pid}`);
    let seen = '';
    for await (const chunk of ticker.stdout!) {
      seen += new TextDecoder().decode(chunk);
      if (seen.split('\n').length > 3) break;
    }
    for (const line of seen.split('\n').slice(0, 3)) console.log(`piped: ${line}`);
    nursery.cancelScope.cancel(); // the supervising task sends SIGTERM and waits for the exit
    await ticker.wait().catch(() => undefined);
  });
  console.log('the ticker was terminated; nothing is left running');
});
