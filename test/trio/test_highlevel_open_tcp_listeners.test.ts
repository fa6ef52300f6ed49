/**
 * Trio's `_tests/test_highlevel_open_tcp_listeners.py`, translated case by case (names kept).
 * triode's listeners wrap `net.Server`, so `listener.socket.getsockname()` becomes
 * `listener.address()`. Real sockets on loopback, real time under `failAfter`.
 *
 * Not carried over, and why:
 * - test_open_tcp_listeners_multiple_host_cleanup_on_error, …_some_address_families_unavailable,
 *   …_socket_fails_not_afnosupport, test_open_tcp_listeners_backlog: they inject a fake socket
 *   factory (`trio.socket.set_custom_socket_factory`); Node has no such hook. The behaviours are
 *   covered in test/main/streams/net.test.ts (a failed listen closes what was opened; a missing
 *   address family is skipped when listening everywhere).
 * - Trio clamps a huge backlog to 0xFFFF; triode passes the number to `listen` (the kernel
 *   clamps it) and keeps at most that many accepted connections waiting: the float check is
 *   ported below.
 */
import net, { type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { failAfter, openNursery, openTcpListeners, openTcpStream, run, serveTcp, SocketListener, type SocketStream } from 'triode';
import { rejection } from '../helpers.js';

const real = (fn: () => Promise<void>) => () => run(() => failAfter(30_000, fn));
const port = (listener: SocketListener) => (listener.address() as AddressInfo).port;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function openStreamToSocketListener(listener: SocketListener): Promise<SocketStream> {
  const address = listener.address() as AddressInfo;
  const host = address.address === '::' ? '::1' : address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
  return openTcpStream(host, address.port);
}

function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

test('test_open_tcp_listeners_basic', real(async () => {
  const listeners = await openTcpListeners(0);
  assert.ok(Array.isArray(listeners) && listeners.length > 0);
  for (const listener of listeners) {
    assert.instance(listener, SocketListener);
    assert.ok(['0.0.0.0', '::'].includes((listener.address() as AddressInfo).address));
  }
  const listener = listeners[0]!;
  const c1 = await openStreamToSocketListener(listener);
  const c2 = await openStreamToSocketListener(listener);
  const s1 = await listener.accept();
  const s2 = await listener.accept();
  await s1.sendAll(new Uint8Array([120]));
  await s2.sendAll(new Uint8Array([120]));
  assert.is(text(await c1.receiveSome(1)), 'x');
  assert.is(text(await c2.receiveSome(1)), 'x');
  for (const resource of [c1, c2, s1, s2, ...listeners]) await resource.aclose();
}));

test('test_open_tcp_listeners_specific_port_specific_host', real(async () => {
  const probe = await openTcpListeners(0, { host: '127.0.0.1' });
  const chosen = port(probe[0]!);
  await probe[0]!.aclose();
  const [listener] = await openTcpListeners(chosen, { host: '127.0.0.1' });
  try {
    assert.equal({ address: (listener!.address() as AddressInfo).address, port: port(listener!) }, { address: '127.0.0.1', port: chosen });
  } finally {
    await listener!.aclose();
  }
}));

test('test_open_tcp_listeners_ipv6_v6only', real(async () => {
  if (!(await ipv6Loopback())) return; // no IPv6 loopback on this machine
  const [ipv6] = await openTcpListeners(0, { host: '::1' });
  try {
    const error = await rejection(openTcpStream('127.0.0.1', port(ipv6!)));
    assert.ok(error instanceof Error, 'an IPv6 listener does not accept IPv4 connections');
  } finally {
    await ipv6!.aclose();
  }
}));

test('test_open_tcp_listeners_rebind', real(async () => {
  const [l1] = await openTcpListeners(0, { host: '127.0.0.1' });
  const chosen = port(l1!);
  const cEstablished = await openStreamToSocketListener(l1!);
  const sEstablished = await l1!.accept();
  const cTimeWait = await openStreamToSocketListener(l1!);
  const sTimeWait = await l1!.accept();
  await sTimeWait.aclose(); // the server side closes first: its end sits in TIME_WAIT
  await l1!.aclose();
  // The port can be listened on again at once (SO_REUSEADDR), despite TIME_WAIT and a live connection.
  const [l2] = await openTcpListeners(chosen, { host: '127.0.0.1' });
  assert.is(port(l2!), chosen);
  assert.is((sEstablished.socket.address() as AddressInfo).port, chosen);
  assert.is(cTimeWait.socket.remotePort, chosen);
  for (const resource of [l2!, cEstablished, sEstablished, cTimeWait]) await resource.aclose();
}));

test('test_open_tcp_listeners_port_checking', real(async () => {
  for (const host of ['127.0.0.1', undefined]) {
    for (const bad of [null, new TextEncoder().encode('80'), 'http']) {
      const error = await rejection(openTcpListeners(bad as never, host === undefined ? {} : { host }));
      assert.instance(error, TypeError);
    }
  }
}));

test('test_serve_tcp', real(async () => {
  await openNursery(async (nursery) => {
    const listeners = await nursery.start(serveTcp, async (stream: SocketStream) => { await stream.sendAll(new Uint8Array([120])); }, 0);
    assert.ok(Array.isArray(listeners));
    const stream = await openStreamToSocketListener(listeners[0]!);
    try {
      assert.is(text(await stream.receiveSome(1)), 'x');
    } finally {
      await stream.aclose();
    }
    nursery.cancelScope.cancel();
  });
}));

test('test_open_tcp_listeners_backlog_float_error', real(async () => {
  for (const bad of [0.0, 2.18, 3.15, 9.75]) {
    assert.instance(await rejection(openTcpListeners(0, { host: '127.0.0.1', backlog: bad })), RangeError);
  }
}));

test.run();
