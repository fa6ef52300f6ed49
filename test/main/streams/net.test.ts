// TCP and Unix sockets over loopback (real time, under failAfter with wide slack).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import {
  BrokenResourceError,
  CancelScope,
  ExceptionGroup,
  ClosedResourceError,
  failAfter,
  lowlevel,
  moveOnAfter,
  openNursery,
  openTcpListeners,
  openTcpStream,
  openUnixListener,
  openUnixSocket,
  run,
  serveListeners,
  serveTcp,
  serveUnix,
  sleepForever,
  type Listener,
  type SocketListener,
  type SocketStream,
  type Stream,
} from 'triode';
import { checkHalfCloseableStream, waitAllTasksBlocked } from 'triode/testing';
import { rejection, socketPair, tcpPair } from '../../helpers.js';

const real = (fn: () => Promise<void>) => () => run(() => failAfter(60_000, fn));
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const portOf = (listener: SocketListener) => (listener.address() as net.AddressInfo).port;

async function receiveAll(stream: Stream): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += text(chunk);
  return out;
}

let socketCount = 0;
const socketPath = () => path.join(os.tmpdir(), `triode-test-${process.pid}-${socketCount++}.sock`);

async function unixPair(): Promise<[SocketStream, SocketStream]> {
  const listener = await openUnixListener(socketPath());
  return socketPair(listener, () => openUnixSocket(listener.address() as string));
}

test('SocketStream over TCP passes checkHalfCloseableStream (clogged pairs included)', real(async () => {
  await checkHalfCloseableStream(tcpPair, tcpPair);
}));

test('SocketStream over a Unix socket passes checkHalfCloseableStream', real(async () => {
  await checkHalfCloseableStream(unixPair, unixPair);
}));

test('TCP_NODELAY is on; socket exposes the net.Socket', real(async () => {
  const [a, b] = await tcpPair();
  assert.instance(a.socket, net.Socket);
  assert.is(a.socket.remotePort, b.socket.localPort);
  await a.aclose();
  await b.aclose();
}));

test('a peer that resets the connection raises BrokenResourceError with the system error as cause', real(async () => {
  const [a, b] = await tcpPair();
  a.socket.resetAndDestroy();
  const error = await rejection(b.receiveSome());
  assert.instance(error, BrokenResourceError);
  assert.is(((error as Error).cause as NodeJS.ErrnoException).code, 'ECONNRESET');
  await b.aclose();
}));

test('a cancelled accept loses no connection', real(async () => {
  const [listener] = await openTcpListeners(0, { host: '127.0.0.1' });
  const scope = new CancelScope();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => scope.run(() => listener!.accept()));
    await waitAllTasksBlocked();
    scope.cancel();
  });
  assert.ok(scope.cancelledCaught);
  const client = await openTcpStream('127.0.0.1', portOf(listener!));
  const server = await listener!.accept();
  await client.sendAll(bytes('hi'));
  await client.sendEof();
  assert.is(await receiveAll(server), 'hi');
  await Promise.resolve();
  for (const r of [client, server, listener!]) await r.aclose();
  assert.instance(await rejection(listener!.accept()), ClosedResourceError);
}));

test('closing a listener wakes a blocked accept with ClosedResourceError', real(async () => {
  const [listener] = await openTcpListeners(0, { host: '127.0.0.1' });
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      assert.instance(await rejection(listener!.accept()), ClosedResourceError);
    });
    await waitAllTasksBlocked();
    await listener!.aclose();
  });
}));

test('connections nobody accepts are bounded by backlog', real(async () => {
  const [listener] = await openTcpListeners(0, { host: '127.0.0.1', backlog: 2 });
  const clients: SocketStream[] = [];
  for (let i = 0; i < 5; i++) clients.push(await openTcpStream('127.0.0.1', portOf(listener!)));
  while (listener!.dropped < 3) await moveOnAfter(10, sleepForever);
  assert.is(listener!.dropped, 3);
  const first = await listener!.accept();
  await first.aclose();
  for (const c of clients) await c.aclose();
  await listener!.aclose();
}));

test('openTcpStream: a refused port raises an AggregateError of every failure; cancellation works', real(async () => {
  const [listener] = await openTcpListeners(0, { host: '127.0.0.1' });
  const port = portOf(listener!);
  await listener!.aclose();
  const error = await rejection(openTcpStream('127.0.0.1', port));
  assert.instance(error, AggregateError);
  assert.is(((error as AggregateError).errors[0] as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  assert.match((error as Error).message, `127.0.0.1:${port}`);

  const scope = new CancelScope();
  scope.cancel();
  await scope.run(() => openTcpStream('127.0.0.1', port));
  assert.ok(scope.cancelledCaught);
}));

test('openTcpStream checks its arguments', real(async () => {
  assert.instance(await rejection(openTcpStream('', 80)), TypeError);
  assert.instance(await rejection(openTcpStream('localhost', 70000)), RangeError);
  assert.instance(await rejection(openTcpStream('localhost', 80, { happyEyeballsDelayMs: -1 })), RangeError);
  assert.instance(await rejection(openTcpListeners(-1)), RangeError);
}));

test('happy eyeballs over real sockets: "localhost" reaches a listener on only one family', real(async () => {
  const families = new Set((await import('node:dns')).promises ? (await (await import('node:dns')).promises.lookup('localhost', { all: true })).map((a) => a.family) : []);
  for (const host of ['127.0.0.1', '::1']) {
    if (!families.has(net.isIP(host))) continue;
    let listener: SocketListener;
    try {
      [listener] = (await openTcpListeners(0, { host })) as [SocketListener];
    } catch {
      continue; // no such family on this machine
    }
    const stream = await openTcpStream('localhost', portOf(listener), { happyEyeballsDelayMs: 250 });
    assert.is(stream.socket.remoteAddress, host);
    const server = await listener.accept();
    await stream.aclose();
    await server.aclose();
    await listener.aclose();
  }
}));

test('openTcpListeners without a host listens on every family, on one port', real(async () => {
  const listeners = await openTcpListeners(0);
  assert.ok(listeners.length >= 1);
  const ports = new Set(listeners.map(portOf));
  assert.is(ports.size, 1);
  const stream = await openTcpStream('127.0.0.1', portOf(listeners[0]!));
  await stream.aclose();
  for (const l of listeners) await l.aclose();
}));

test('serveTcp under nursery.start: port 0, one task per connection, streams closed after the handler', real(async () => {
  await openNursery(async (nursery) => {
    const listeners = await nursery.start(serveTcp, async (stream: SocketStream) => {
      for await (const chunk of stream) await stream.sendAll(chunk);
    }, 0, { host: '127.0.0.1' });
    const port = portOf(listeners[0]!);
    await openNursery(async (clients) => {
      for (let i = 0; i < 5; i++) {
        clients.startSoon(async () => {
          const stream = await openTcpStream('127.0.0.1', port);
          await stream.sendAll(bytes(`hello ${i}`));
          await stream.sendEof();
          assert.is(await receiveAll(stream), `hello ${i}`, 'echoed, then closed by the server');
          await stream.aclose();
        });
      }
    });
    nursery.cancelScope.cancel();
  });
}));

test('serveTcp without options works with nursery.start too; cancelling closes the listeners', real(async () => {
  let port = 0;
  await openNursery(async (nursery) => {
    const listeners: SocketListener[] = await nursery.start(serveTcp, async (s: SocketStream) => s.sendAll(bytes('x')), 0);
    port = portOf(listeners[0]!);
    const stream = await openTcpStream('127.0.0.1', port);
    assert.is(await receiveAll(stream), 'x');
    await stream.aclose();
    nursery.cancelScope.cancel();
  });
  const error = await rejection(openTcpStream('127.0.0.1', port));
  assert.instance(error, AggregateError, 'nothing listens any more');
}));

test('handlerNursery: handlers live in the given nursery and outlast a cancelled server', real(async () => {
  const { Event } = await import('triode');
  const proceed = new Event();
  await openNursery(async (handlers) => {
    let port = 0;
    await openNursery(async (server) => {
      const listeners: SocketListener[] = await server.start(serveTcp, async (s: SocketStream) => {
        await proceed.wait();
        await s.sendAll(bytes('still here'));
      }, 0, { host: '127.0.0.1', handlerNursery: handlers });
      port = portOf(listeners[0]!);
      const client = await openTcpStream('127.0.0.1', port);
      handlers.startSoon(async () => {
        assert.is(await receiveAll(client), 'still here');
        await client.aclose();
      });
      await waitAllTasksBlocked();
      server.cancelScope.cancel(); // stops accepting; the handler is not in this nursery
    });
    assert.instance(await rejection(openTcpStream('127.0.0.1', port)), AggregateError, 'the listener is closed');
    proceed.set();
  });
}));

test('serveListeners logs and retries EMFILE-style accept errors; other errors end it', real(async () => {
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
  const [a, b] = await tcpPair();
  let accepts = 0;
  const fake: Listener<SocketStream> = {
    async accept() {
      accepts++;
      if (accepts <= 2) throw emfile;
      if (accepts === 3) return a;
      return sleepForever();
    },
    async aclose() {},
  };
  const logged: Error[] = [];
  const served: SocketStream[] = [];
  await openNursery(async (nursery) => {
    await nursery.start(serveListeners, async (s: SocketStream) => {
      served.push(s);
      nursery.cancelScope.cancel();
    }, [fake], { onAcceptError: (e: Error) => logged.push(e) });
  });
  assert.equal(logged, [emfile, emfile]);
  assert.equal(served, [a]);
  await b.aclose();

  const broken: Listener<SocketStream> = {
    accept: async () => {
      throw new Error('not transient');
    },
    aclose: async () => {},
  };
  const error = await rejection(openNursery((n) => n.start(serveListeners, async () => {}, [broken])));
  const leaves = (e: unknown): unknown[] => (e instanceof ExceptionGroup ? e.errors.flatMap(leaves) : [e]);
  assert.equal(leaves(error).map((e) => (e as Error).message), ['not transient']);
}));

test('serveUnix: a Unix domain server under nursery.start', real(async () => {
  const where = socketPath();
  await openNursery(async (nursery) => {
    const [listener] = await nursery.start(serveUnix, async (s: SocketStream) => s.sendAll(bytes('unix')), where);
    assert.is(listener!.address(), where);
    const stream = await openUnixSocket(where);
    assert.is(await receiveAll(stream), 'unix');
    await stream.aclose();
    nursery.cancelScope.cancel();
  });
  assert.not.ok(fs.existsSync(where), 'the socket file is removed when the listener closes');
}));

test('lowlevel.waitForEvent: the event, the error, and a cancelled wait that leaves no listener', real(async () => {
  const { EventEmitter } = await import('node:events');
  const emitter = new EventEmitter();
  setImmediate(() => emitter.emit('ready', 42));
  assert.is(await lowlevel.waitForEvent(emitter, 'ready', 'test'), 42);
  setImmediate(() => emitter.emit('error', new Error('boom')));
  assert.match(String(await rejection(lowlevel.waitForEvent(emitter, 'ready', 'test'))), /boom/);
  let cancelled = false;
  assert.is(await moveOnAfter(20, () => lowlevel.waitForEvent(emitter, 'never', 'test', () => (cancelled = true))), undefined);
  assert.ok(cancelled, 'onCancel ran');
  assert.is(emitter.listenerCount('never') + emitter.listenerCount('error'), 0, 'no listener left');
}));

test('lowlevel.happyEyeballs: staggered attempts, failures start the next at once, first success wins', async () => {
  const { MockClock } = await import('triode/testing');
  const clock = new MockClock({ autojumpThreshold: 0 });
  await run(async () => {
    const { currentTime, sleep } = await import('triode');
    const log: string[] = [];
    const closed: string[] = [];
    const resource = (name: string) => ({ name, aclose: async () => void closed.push(name) });
    const winner = await lowlevel.happyEyeballs(['slow', 'fails', 'fast', 'late'], async (target: string) => {
      log.push(`${target}@${currentTime()}`);
      if (target === 'slow') return sleepForever();
      if (target === 'fails') throw new Error('refused');
      await sleep(target === 'fast' ? 10 : 1000);
      return resource(target);
    }, 250);
    assert.is(winner.name, 'fast');
    assert.equal(log, ['slow@0', 'fails@250', 'fast@250'], "'late' never started: 'fast' won first");
    assert.is(currentTime(), 260);
    assert.equal(closed, [], 'the others were cancelled before connecting');

    const error = await rejection(lowlevel.happyEyeballs([1, 2, 3], async (n: number) => {
      throw new Error(`no ${n}`);
    }, 250));
    assert.instance(error, AggregateError);
    assert.equal((error as AggregateError).errors.map((e: Error) => e.message), ['no 1', 'no 2', 'no 3']);
    assert.is(currentTime(), 260, 'failures do not wait for the stagger delay');

    const scope = new CancelScope();
    await openNursery(async (nursery) => {
      nursery.startSoon(() => scope.run(() => lowlevel.happyEyeballs([1, 2], async () => sleepForever(), 250)));
      await sleep(100);
      scope.cancel();
    });
    assert.ok(scope.cancelledCaught);
  }, { clock });
});

test.run();
