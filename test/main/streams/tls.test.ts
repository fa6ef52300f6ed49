// TLS over TCP and over in-memory streams, with a self-signed certificate made in the test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import {
  Event,
  BrokenResourceError,
  CancelScope,
  ClosedResourceError,
  TLSStream,
  failAfter,
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

test('TLSStream over TCP passes checkTwoWayStream', real(async () => {
  await checkTwoWayStream(tlsOver(tcpPair), tlsOver(tcpPair));
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
  await a.aclose();
  await b.aclose();
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
  const error = await rejection(client.doHandshake());
  assert.instance(error, BrokenResourceError);
  assert.match(String(((error as Error).cause as Error).message), /self.signed|unable to verify|certificate/i);
  await client.aclose();
  await server.aclose();
}));

test('a cancelled doHandshake and a cancelled receiveSome lose nothing', real(async () => {
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
  await a.doHandshake(); // the cancelled wait did not stop the handshake
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

test('TLSStream checks its transport', real(async () => {
  assert.throws(() => new TLSStream({} as never), /transport must be a triode Stream/);
}));

test.run();
