// A TCP server whose handlers each set a task-local connection id: every log line a handler
// writes (also from tasks it starts) says which connection it serves, with no id passed around.
// Real clients connect over loopback; the server is cancelled when they are done.
import type { AddressInfo } from 'node:net';
import { TaskLocal, openNursery, openTcpStream, run, serveTcp, sleep, type SocketStream } from 'triode';

const connectionId = new TaskLocal<number>('connectionId', { default: 0 });
let nextId = 1;

function log(message: string): void {
  console.log(`  [connection ${connectionId.get()}] ${message}`);
}

async function shout(stream: SocketStream, line: string): Promise<void> {
  await sleep(5 * connectionId.get()); // pretend to work; other connections carry on meanwhile
  log(`answering "${line}"`);
  await stream.sendAll(new TextEncoder().encode(line.toUpperCase()));
}

async function handler(stream: SocketStream): Promise<void> {
  connectionId.set(nextId++);
  log(`connected from port ${stream.socket.remotePort}`);
  for await (const chunk of stream) {
    const line = new TextDecoder().decode(chunk);
    await openNursery(async (nursery) => nursery.startSoon(shout, stream, line)); // the child sees the id too
  }
  log('client sent EOF; closing');
}

async function client(port: number, words: string): Promise<void> {
  const stream = await openTcpStream('127.0.0.1', port);
  const localPort = stream.socket.localPort;
  await stream.sendAll(new TextEncoder().encode(words));
  await stream.sendEof();
  let reply = '';
  for await (const chunk of stream) reply += new TextDecoder().decode(chunk);
  console.log(`client "${words}" (port ${localPort}) got "${reply}"`);
  await stream.aclose();
}

await run(async () => {
  await openNursery(async (nursery) => {
    const listeners = await nursery.start(serveTcp, handler, 0, { host: '127.0.0.1' });
    const { port } = listeners[0]!.address() as AddressInfo;
    console.log(`serving on 127.0.0.1:${port}`);
    await openNursery(async (clients) => {
      for (const words of ['hello', 'structured', 'concurrency']) clients.startSoon(client, port, words);
    });
    nursery.cancelScope.cancel(); // stop the server: its listener closes, the program exits
  });
  console.log('server stopped; every handler logged only its own connection id');
});
