// TLS over TCP and over in-memory streams, with a self-signed certificate made in the test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import {
  Event,
  acloseForcefully,
  BrokenResourceError,
  CancelScope,
  ClosedResourceError,
  TLSStream,
  dumpTaskTree,
  failAfter,
  lowlevel,
  openNursery,
  openTlsOverTcpStream,
  run,
  serveTlsOverTcp,
  type SocketStream,
  type Stream,
  type TLSListener,
} from 'triode';
import { checkTwoWayStream, lockstepStreamPair, memoryStreamPair, waitAllTasksBlocked } from 'triode/testing';
import { makeSelfSignedCertificate } from '../../fixtures/self-signed.js';
import { rejection, tcpPair } from '../../helpers.js';

const real = (fn: () => Promise<void>) => () => run(() => failAfter(60_000, fn));
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const { key, cert } = makeSelfSignedCertificate();

/** A TLS pair over any transport pair. */
function tlsOver<S extends Stream>(makeTransport: () => Promise<[S, S]>) {
  return async (): Promise<[TLSStream<S>, TLSStream<S>]> => {
    const [a, b] = await makeTransport();
    return [new TLSStream(a, { servername: 'localhost', ca: cert }), new TLSStream(b, { serverSide: true, key, cert })];
  };
}

/** As Trio's clogged maker: the handshake done first, so a clogged send blocks on the transport. */
function handshaken<S extends Stream>(makePair: () => Promise<[TLSStream<S>, TLSStream<S>]>) {
  return async (): Promise<[TLSStream<S>, TLSStream<S>]> => {
    const [a, b] = await makePair();
    await openNursery(async (nursery) => {
      nursery.startSoon(() => a.doHandshake());
      nursery.startSoon(() => b.doHandshake());
    });
    return [a, b];
  };
}

test('TLSStream over TCP passes checkTwoWayStream', real(async () => {
  await checkTwoWayStream(tlsOver(tcpPair), handshaken(tlsOver(tcpPair)));
}));

test('TLSStream over an in-memory pair passes checkTwoWayStream (any Stream is a transport)', real(async () => {
  await checkTwoWayStream(tlsOver(async () => memoryStreamPair()));
}));

test('TLSStream over a lockstep pair: no buffering anywhere, still no deadlock', real(async () => {
  const [a, b] = await tlsOver(async () => lockstepStreamPair())();
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      await a.sendAll(bytes('ping'));
      assert.is(text(await a.receiveSome()), 'pong');
    });
    assert.is(text(await b.receiveSome()), 'ping');
    await b.sendAll(bytes('pong'));
  });
  // Over a transport without buffering a close-notify goes out only while the peer receives (as
  // in Trio): one end closes while the other reads the end of stream, then closes.
  await openNursery(async (nursery) => {
    nursery.startSoon(() => a.aclose());
    assert.is((await b.receiveSome()).length, 0);
    await b.aclose();
  });
}));

test('doHandshake: explicit, idempotent, reports the peer certificate; an untrusted certificate breaks it', real(async () => {
  const [a, b] = await tlsOver(async () => memoryStreamPair())();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => b.doHandshake());
    await a.doHandshake();
    await a.doHandshake();
  });
  assert.is(a.tlsSocket.authorized, true);
  assert.match(String(a.tlsSocket.getPeerCertificate().subject.CN), 'localhost');
  await a.aclose();
  await b.aclose();

  const [x, y] = await memoryStreamPair();
  const client = new TLSStream(x, { servername: 'localhost' }); // no ca: the certificate is not trusted
  const server = new TLSStream(y, { serverSide: true, key, cert });
  await openNursery(async (nursery) => {
    // The server's handshake runs in its own calls too: it breaks once the client gives up.
    nursery.startSoon(async () => assert.instance(await rejection(server.doHandshake()), BrokenResourceError));
    const error = await rejection(client.doHandshake());
    assert.instance(error, BrokenResourceError);
    assert.match(String(((error as Error).cause as Error).message), /self.signed|unable to verify|certificate/i);
    await client.aclose();
  });
  await server.aclose();
}));

test('a cancelled doHandshake and a cancelled receiveSome lose nothing (the handshake resumes)', real(async () => {
  const [x, y] = memoryStreamPair();
  const a = new TLSStream(x, { servername: 'localhost', ca: cert });
  const scope = new CancelScope();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => scope.run(() => a.doHandshake())); // no server yet: it blocks
    await waitAllTasksBlocked();
    scope.cancel();
  });
  assert.ok(scope.cancelledCaught);
  const b = new TLSStream(y, { serverSide: true, key, cert });
  // The cancelled handshake resumes where it stopped (its ClientHello is already out).
  await openNursery(async (nursery) => {
    nursery.startSoon(() => b.doHandshake());
    await a.doHandshake();
  });
  const receiveScope = new CancelScope();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => receiveScope.run(() => b.receiveSome()));
    await waitAllTasksBlocked();
    receiveScope.cancel();
  });
  assert.ok(receiveScope.cancelledCaught);
  await openNursery(async (nursery) => {
    nursery.startSoon(() => a.sendAll(bytes('kept')));
    assert.is(text(await b.receiveSome()), 'kept');
  });
  await a.aclose();
  await b.aclose();
}));

test('aclose sends close-notify: the peer reads the end of stream; the closed side raises ClosedResourceError', real(async () => {
  const [a, b] = await tlsOver(async () => memoryStreamPair())();
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      await a.sendAll(bytes('bye'));
      await a.aclose();
    });
    assert.is(text(await b.receiveSome()), 'bye');
    assert.is((await b.receiveSome()).length, 0);
  });
  assert.instance(await rejection(a.sendAll(bytes('x'))), ClosedResourceError);
  await b.aclose();
}));

test('unwrap: both sides end TLS and keep talking in the clear over the same transport', real(async () => {
  const [a, b] = await tlsOver(async () => memoryStreamPair())();
  // unwrap's contract: clear bytes may follow only once the peer is done unwrapping (Node's TLS
  // engine keeps whatever it reads past a close-notify, so bytes that race a peer still inside
  // unwrap can be lost). The test says "done" out of band, as a real protocol's ack would.
  const bUnwrapped = new Event();
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      await a.sendAll(bytes('secret'));
      const [plainA] = await a.unwrap();
      await bUnwrapped.wait();
      await plainA.sendAll(bytes('clear'));
    });
    assert.is(text(await b.receiveSome()), 'secret');
    const [plainB, trailing] = await b.unwrap();
    bUnwrapped.set();
    assert.is(trailing.length, 0);
    assert.is(text(await plainB.receiveSome()), 'clear');
    await plainB.aclose();
  });
  assert.instance(await rejection(a.receiveSome()), ClosedResourceError);
}));

test('a cancelled unwrap (the peer never answers the close-notify) ends; the stream can still be closed', real(async () => {
  const [a, b] = await tlsOver(async () => memoryStreamPair())();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => b.doHandshake());
    await a.doHandshake();
  });
  const scope = new CancelScope();
  await openNursery(async (nursery) => {
    nursery.startSoon(() => scope.run(() => a.unwrap()));
    await waitAllTasksBlocked();
    scope.cancel();
  });
  assert.ok(scope.cancelledCaught);
  await a.aclose();
  await b.aclose();
}));

test('openTlsOverTcpStream and serveTlsOverTcp under nursery.start', real(async () => {
  await openNursery(async (nursery) => {
    const listeners: TLSListener<SocketStream>[] = await nursery.start(serveTlsOverTcp, async (stream: TLSStream<SocketStream>) => {
      for await (const chunk of stream) await stream.sendAll(chunk);
    }, 0, { key, cert }, { host: '127.0.0.1' });
    const { port } = listeners[0]!.address() as AddressInfo;
    const stream = await openTlsOverTcpStream('localhost', port, { ca: cert });
    await stream.doHandshake();
    assert.ok(stream.tlsSocket.authorized);
    await stream.sendAll(bytes('echo me'));
    assert.is(text(await stream.receiveSome()), 'echo me');
    await stream.aclose();
    nursery.cancelScope.cancel();
  });
}));

test('TLSStream has no task of its own: the transport is driven in the caller\'s task, under its scopes', real(async () => {
  const [x, y] = memoryStreamPair();
  const callers = new Set<unknown>();
  const transportTasks: unknown[] = [];
  // The pair's own hooks move the bytes across; each is wrapped to note the task it runs in.
  for (const end of [x, y]) {
    const { sendStream, receiveStream } = end;
    const send = sendStream.sendAllHook;
    const receive = receiveStream.receiveSomeHook;
    sendStream.sendAllHook = async () => {
      transportTasks.push(lowlevel.currentTask());
      await send?.();
    };
    receiveStream.receiveSomeHook = async () => {
      transportTasks.push(lowlevel.currentTask());
      await receive?.();
    };
  }
  const [a, b] = [new TLSStream(x, { servername: 'localhost', ca: cert }), new TLSStream(y, { serverSide: true, key, cert })];
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      callers.add(lowlevel.currentTask());
      await a.sendAll(bytes('hello'));
      await a.aclose();
    });
    nursery.startSoon(async () => {
      callers.add(lowlevel.currentTask());
      assert.is(text(await b.receiveSome()), 'hello');
      assert.is((await b.receiveSome()).length, 0);
      // No ciphertext pump anywhere in the tree: the stream has no task of its own.
      assert.not.match(dumpTaskTree(), /TLSStream (reader|writer)/);
      await b.aclose();
    });
  });
  assert.ok(transportTasks.length > 4, 'the transport was used');
  assert.ok(transportTasks.every((task) => callers.has(task)), 'every transport operation ran in a caller\'s task');

  // A receive blocked on the transport is cancelled by the caller's deadline, like any receive.
  const [p, q] = memoryStreamPair();
  const [c, d] = [new TLSStream(p, { servername: 'localhost', ca: cert }), new TLSStream(q, { serverSide: true, key, cert })];
  await openNursery(async (nursery) => {
    nursery.startSoon(() => d.doHandshake());
    await c.doHandshake();
  });
  const scope = new CancelScope({ relativeDeadline: 20 });
  await scope.run(() => c.receiveSome());
  assert.ok(scope.cancelledCaught);
  await openNursery(async (nursery) => {
    nursery.startSoon(() => d.sendAll(bytes('after')));
    assert.is(text(await c.receiveSome()), 'after');
  });
  await acloseBoth(c, d);
}));

test('ciphertext the engine writes while the only task in the stream is blocked receiving goes out first (that receive is interrupted, nothing lost)', real(async () => {
  const [x, y] = memoryStreamPair();
  const [a, b] = [new TLSStream(x, { servername: 'localhost', ca: cert }), new TLSStream(y, { serverSide: true, key, cert })];
  await openNursery(async (nursery) => {
    nursery.startSoon(() => b.doHandshake());
    await a.doHandshake();
  });
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      const got = await b.receiveSome();
      await b.sendAll(got);
    });
    nursery.startSoon(async () => {
      assert.is(text(await a.receiveSome()), 'ping');
    });
    await waitAllTasksBlocked();
    // Written behind the stream's back (as Node's engine does on its own after a write completes):
    // no call of `a` is sending, and its only task sits in the transport's receive. Without the
    // interrupt the bytes would wait for a call that never comes, and both ends would wait forever.
    a.tlsSocket.write('ping');
  });
  await acloseBoth(a, b);
}));

test('a sendAll cancelled part-way through a transport send leaves the stream broken (Trio); a cancelled wait before any send does not', real(async () => {
  const [x, y] = lockstepStreamPair();
  const [a, b] = [new TLSStream(x, { servername: 'localhost', ca: cert }), new TLSStream(y, { serverSide: true, key, cert })];
  await openNursery(async (nursery) => {
    nursery.startSoon(() => b.doHandshake());
    await a.doHandshake();
  });
  // Nobody reads b: over a lockstep transport a's ciphertext send blocks until cancelled.
  const scope = new CancelScope({ relativeDeadline: 50 });
  await scope.run(() => a.sendAll(new Uint8Array(100_000)));
  assert.ok(scope.cancelledCaught);
  const error = await rejection(a.sendAll(bytes('more')));
  assert.instance(error, BrokenResourceError);
  assert.match(String((error as Error).message), /cancelled part-way/);
  assert.instance(await rejection(a.receiveSome()), BrokenResourceError);
  await a.aclose(); // no close-notify on a broken stream: it closes at once
  await acloseForcefully(b);
}));

test('the transport ending without a close-notify: plaintext already received comes first, then BrokenResourceError', real(async () => {
  const [x, y] = memoryStreamPair();
  const [a, b] = [new TLSStream(x, { servername: 'localhost', ca: cert }), new TLSStream(y, { serverSide: true, key, cert })];
  await openNursery(async (nursery) => {
    nursery.startSoon(() => b.doHandshake());
    await a.doHandshake();
  });
  await b.sendAll(bytes('last words'));
  await acloseForcefully(b); // the transport closes; no close-notify was sent
  let received = '';
  let error: unknown;
  while (error === undefined) {
    const chunk = await a.receiveSome().catch((e: unknown) => {
      error = e;
      return new Uint8Array(0);
    });
    received += text(chunk);
  }
  assert.is(received, 'last words');
  assert.instance(error, BrokenResourceError);
  assert.match(String(((error as Error).cause as Error)?.message), /without a TLS close-notify/);
  await a.aclose();
}));

async function acloseBoth(a: TLSStream, b: TLSStream): Promise<void> {
  await openNursery(async (nursery) => {
    nursery.startSoon(() => a.aclose());
    nursery.startSoon(() => b.aclose());
  });
}

test('TLSStream checks its transport', real(async () => {
  assert.throws(() => new TLSStream({} as never), /transport must be a triode Stream/);
}));

test.run();
