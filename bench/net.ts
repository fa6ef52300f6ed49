// `npm run bench:net`: an echo server on loopback, 50 concurrent connections each sending a
// 16 KiB message and waiting for its echo, again and again. The same plain-net client load
// drives triode's serveTcp + SocketStream and a plain `net` echo server (socket.pipe(socket)), in
// one process, alternating runs. Reports requests/s, MB/s, p50/p99 latency and the heap peak
// (sampled every 20 ms: bounded memory shows as a peak that does not grow with the load).
import net from 'node:net';
import { openNursery, run, serveTcp, type SocketStream } from 'triode';
import { printTable, type Row } from './harness.js';

const CONNECTIONS = 50;
const MESSAGE = 16 * 1024;
const ROUNDS = Number(process.env.NET_ROUNDS ?? 300); // messages per connection per run
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface Result {
  requestsPerSec: number;
  mbPerSec: number;
  p50: number;
  p99: number;
  heapPeakMb: number;
}

/** One connection: send a message, wait for all of it back, ROUNDS times; returns latencies. */
function clientConnection(port: number, payload: Buffer, latencies: number[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let round = 0;
    let received = 0;
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      received = 0;
      socket.write(payload);
    };
    socket.on('connect', send);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received < MESSAGE) return;
      latencies.push(performance.now() - sentAt);
      if (++round === ROUNDS) {
        socket.end();
        resolve();
      } else send();
    });
    socket.on('error', reject);
  });
}

async function load(port: number): Promise<Result> {
  const payload = Buffer.alloc(MESSAGE, 7);
  const latencies: number[] = [];
  let heapPeak = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 20);
  const start = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, () => clientConnection(port, payload, latencies)));
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  latencies.sort((a, b) => a - b);
  const requests = CONNECTIONS * ROUNDS;
  return {
    requestsPerSec: requests / seconds,
    mbPerSec: (2 * requests * MESSAGE) / seconds / 1e6,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
    heapPeakMb: heapPeak / 1e6,
  };
}

async function plainNet(): Promise<Result> {
  const server = net.createServer({ noDelay: true }, (socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await load((server.address() as net.AddressInfo).port);
  } finally {
    server.close();
  }
}

async function echo(stream: SocketStream): Promise<void> {
  for await (const chunk of stream) await stream.sendAll(chunk);
}

function triode(): Promise<Result> {
  return run(() =>
    openNursery(async (nursery) => {
      const [listener] = await nursery.start(serveTcp, echo, 0, { host: '127.0.0.1' });
      const result = await load((listener!.address() as net.AddressInfo).port);
      nursery.cancelScope.cancel();
      return result;
    }),
  ) as Promise<Result>;
}

const results: Record<'triode' | 'net', Result[]> = { triode: [], net: [] };
await plainNet(); // warm up both
await triode();
for (let i = 0; i < RUNS; i++) {
  results.net.push(await plainNet());
  results.triode.push(await triode());
}
const med = (peer: 'triode' | 'net', key: keyof Result): number => {
  const values = results[peer].map((r) => r[key]).sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
};
const row = (name: string, unit: string, key: keyof Result): Row => ({
  case: name,
  unit,
  results: { triode: med('triode', key), net: med('net', key) },
});

console.log(`echo over loopback: ${CONNECTIONS} connections x ${ROUNDS} messages of ${MESSAGE / 1024} KiB per run`);
printTable('bench/net: throughput', [row('requests', 'req/s', 'requestsPerSec'), row('echoed bytes', 'MB/s', 'mbPerSec')], 'triode', 'higher');
printTable('bench/net: latency and memory', [
  row('latency p50', 'ms', 'p50'),
  row('latency p99', 'ms', 'p99'),
  row('heap peak (whole process)', 'MB', 'heapPeakMb'),
]);
