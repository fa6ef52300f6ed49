/**
 * `triode-worker --redis <url> --queue <name> [--threads N]`: serves a RemotePool's jobs on this
 * machine. One line when it starts and one when it stops; SIGINT or SIGTERM stops it cleanly
 * (running jobs cancelled cooperatively, then their threads killed after --kill-after-ms); a
 * second signal exits at once. Exit codes: 0 after a clean stop, 1 if it cannot start, 2 for a
 * bad argument.
 */
import { RemoteWorker, type RemoteWorkerOptions } from './remote-worker.js';

const USAGE = `usage: triode-worker --redis <url> --queue <name> [options]

Runs triode remote jobs (runInWorker / workerModule / mapInWorkers on a RemotePool) from a
BullMQ queue on local worker threads.

  --redis <url>              Redis to connect to (redis://host:port/db)
  --queue <name>             the queue to serve
  --threads <n>              worker threads (default: the CPU count)
  --concurrency <n>          jobs taken from Redis at once (default: twice --threads)
  --modules <dir>            the folder whose modules jobs may run (default: the working directory)
  --prefix <prefix>          BullMQ key prefix (default: bull)
  --lock-ms <ms>             job lock duration; a dead worker is noticed after it (default 10000)
  --stalled-interval-ms <ms> how often to look for jobs of dead workers (default 5000)
  --kill-after-ms <ms>       on SIGINT/SIGTERM, time running jobs get to stop (default 5000)
  --help                     this text`;

type Flag = 'redis' | 'queue' | 'threads' | 'concurrency' | 'modules' | 'prefix' | 'lock-ms' | 'stalled-interval-ms' | 'kill-after-ms';
const FLAGS: readonly Flag[] = ['redis', 'queue', 'threads', 'concurrency', 'modules', 'prefix', 'lock-ms', 'stalled-interval-ms', 'kill-after-ms'];

class UsageError extends Error {}

/** The options `argv` names; a UsageError saying which argument is wrong otherwise. */
export function parseWorkerArgs(argv: readonly string[]): RemoteWorkerOptions | 'help' {
  const values = new Map<Flag, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    const [name, inline] = arg.startsWith('--') ? arg.slice(2).split(/=(.*)/s, 2) : [undefined, undefined];
    if (name === undefined || !FLAGS.includes(name as Flag)) throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
    values.set(name as Flag, value);
  }
  const number = (flag: Flag, min: number): number | undefined => {
    const text = values.get(flag);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
    return n;
  };
  const redis = values.get('redis');
  const queue = values.get('queue');
  if (redis === undefined) throw new UsageError('--redis is required');
  if (queue === undefined) throw new UsageError('--queue is required');
  const options: RemoteWorkerOptions = { redis, queue };
  const threads = number('threads', 1);
  const concurrency = number('concurrency', 1);
  const lockDurationMs = number('lock-ms', 10);
  const stalledIntervalMs = number('stalled-interval-ms', 1);
  const killAfterMs = number('kill-after-ms', 0);
  const prefix = values.get('prefix');
  const modules = values.get('modules');
  return {
    ...options,
    ...(threads !== undefined && { threads }),
    ...(concurrency !== undefined && { concurrency }),
    ...(lockDurationMs !== undefined && { lockDurationMs }),
    ...(stalledIntervalMs !== undefined && { stalledIntervalMs }),
    ...(killAfterMs !== undefined && { killAfterMs }),
    ...(prefix !== undefined && { prefix }),
    ...(modules !== undefined && { modules }),
  };
}

function redisForLog(redis: RemoteWorkerOptions['redis']): string {
  if (typeof redis !== 'string') return `${redis.host ?? '127.0.0.1'}:${redis.port ?? 6379}`;
  return redis.replace(/\/\/[^@/]*@/, '//***@'); // no password in logs
}

export async function main(argv: readonly string[]): Promise<number> {
  let worker: RemoteWorker;
  try {
    const options = parseWorkerArgs(argv);
    if (options === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    worker = new RemoteWorker(options); // checks the options before it connects
    const where = `queue ${JSON.stringify(worker.queue)} on ${redisForLog(options.redis)}`;
    try {
      await worker.ready;
    } catch (error) {
      process.stderr.write(`triode-worker ${worker.name}: cannot serve ${where}: ${(error as Error).message}\n`);
      await worker.close().catch(() => {});
      return 1;
    }
    process.stdout.write(`triode-worker ${worker.name}: serving ${where} with ${worker.threads} thread${worker.threads === 1 ? '' : 's'}, ${worker.concurrency} jobs at a time\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    const running = worker.runningJobs;
    // A second signal: stop now.
    const now = () => process.exit(130);
    process.once('SIGINT', now);
    process.once('SIGTERM', now);
    await worker.close();
    process.stdout.write(`triode-worker ${worker.name}: stopped on ${signal}${running > 0 ? ` (${running} running job${running === 1 ? '' : 's'} cancelled)` : ''}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError) && !(error instanceof RangeError)) throw error;
    process.stderr.write(`triode-worker: ${error.message.replace(/^RemoteWorker: options\./, '--').replace(/^RemoteWorker: /, '')}\n`);
    process.stderr.write('run triode-worker --help for usage\n');
    return 2;
  }
}
