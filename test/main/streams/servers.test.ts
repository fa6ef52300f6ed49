/**
 * Servers against clients this project did not write: plain `net` sockets that reset, stall
 * (slowloris) or come by the thousand, `curl`, and `openssl s_client` killed mid-handshake. The
 * handler is the README's echo handler, unchanged; after every abuse a well-behaved client must
 * still be served. Real sockets and processes: each test runs under a real-time `failAfter`
 * with ≥ 10× what it needs on an idle machine.
 */
import net, { type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  failAfter,
  openNursery,
  run,
  runProcess,
  serveTcp,
  serveTlsOverTcp,
  sleep,
  type Nursery,
  type SocketStream,
  type Stream,
} from 'triode';
import { makeSelfSignedCertificate } from '../../fixtures/self-signed.js';

/** The README's echo handler. */
async function echo(stream: Stream) {
  for await (const chunk of stream) await stream.sendAll(chunk);
}

const LIMIT_MS = 60_000;

/** A plain Node client: connects, sends `text`, resolves with what comes back before `end`. */
function echoOnce(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      got += d;
      if (got.length >= text.length) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
    socket.write(text);
  });
}

function connectIdle(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

async function withEchoServer(
  options: { maxConnections?: number },
  body: (port: number, nursery: Nursery, running: () => number) => Promise<void>,
): Promise<void> {
  let running = 0;
  const counted = async (stream: SocketStream) => {
    running++;
    try {
      await echo(stream);
    } finally {
      running--;
    }
  };
  await run(() =>
    failAfter(LIMIT_MS, () =>
      openNursery(async (nursery) => {
        const [listener] = await nursery.start(serveTcp, counted, 0, { host: '127.0.0.1', ...options });
        await body((listener!.address() as AddressInfo).port, nursery, () => running);
        nursery.cancelScope.cancel();
      }),
    ),
  );
}

test('a client that resets its connection ends only its own handler', () =>
  withEchoServer({}, async (port) => {
    // 20 healthy clients mid-conversation, one that resets after sending.
    const healthy = Array.from({ length: 20 }, () => connectIdle(port));
    const sockets = await Promise.all(healthy);
    const resetter = await connectIdle(port);
    resetter.write('x'.repeat(100_000)); // the echo is still being written back when the reset comes
    await sleep(20);
    resetter.resetAndDestroy();
    await sleep(100);
    // Every healthy connection still echoes.
    const replies = await Promise.all(
      sockets.map(
        (socket, i) =>
          new Promise<string>((resolve) => {
            socket.setEncoding('utf8');
            socket.once('data', (d: string) => resolve(d));
            socket.write(`hello ${i}`);
          }),
      ),
    );
    replies.forEach((reply, i) => assert.is(reply, `hello ${i}`));
    for (const socket of sockets) socket.destroy();
    // And new connections are accepted.
    assert.is(await echoOnce(port, 'after the reset'), 'after the reset');
  }));

test('curl against the echo server: curl gives up, the server serves on', () =>
  withEchoServer({}, async (port) => {
    const result = await runProcess(['curl', '-s', '--max-time', '5', `http://127.0.0.1:${port}/`], {
      check: false,
      captureStdout: true,
      captureStderr: true,
    });
    // curl reads its own request back as a response it cannot parse, then hangs up.
    assert.is.not(result.returncode, 0);
    assert.is(await echoOnce(port, 'still here'), 'still here');
  }));

test('slowloris: maxConnections caps the running handlers; the rest wait and are served later', () =>
  withEchoServer({ maxConnections: 10 }, async (port, _nursery, running) => {
    const idle = await Promise.all(Array.from({ length: 30 }, () => connectIdle(port)));
    for (const socket of idle) socket.write('a'); // one byte, then nothing: a slowloris client
    await sleep(200);
    assert.is(running(), 10, 'only maxConnections handlers run');
    // A real client waits its turn, and is served once the idle ones go away.
    const served = echoOnce(port, 'patient');
    await sleep(100);
    for (const socket of idle) socket.destroy();
    assert.is(await served, 'patient');
  }));

test('cancelled twin: a server paused at maxConnections stops at once when cancelled', async () => {
  let idle: net.Socket | undefined;
  let waiting: net.Socket | undefined;
  let cancelledAt = 0;
  await withEchoServer({ maxConnections: 1 }, async (port, _nursery, running) => {
    idle = await connectIdle(port);
    idle.write('a'); // holds the only slot
    waiting = await connectIdle(port); // accepted by nobody: the server waits for a slot
    await sleep(100);
    assert.is(running(), 1);
    cancelledAt = performance.now(); // withEchoServer cancels the server when this returns
  });
  const took = performance.now() - cancelledAt;
  idle!.destroy();
  waiting!.destroy();
  // The slot is never freed by the clients: the cancellation alone ended the server.
  assert.ok(took < 5_000, `the server took ${took.toFixed(0)} ms to stop`);
});

test('300 slowloris connections without a cap do not keep a real client out', () =>
  withEchoServer({}, async (port) => {
    const idle = await Promise.all(Array.from({ length: 300 }, () => connectIdle(port)));
    for (const socket of idle) socket.write('a');
    assert.is(await echoOnce(port, 'through the crowd'), 'through the crowd');
    for (const socket of idle) socket.destroy();
  }));

test('1,000 concurrent connections are all echoed', () =>
  withEchoServer({}, async (port) => {
    const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => echoOnce(port, `message ${i}`)));
    replies.forEach((reply, i) => assert.is(reply, `message ${i}`));
  }));

test('maxConnections is checked', async () => {
  await run(async () => {
    for (const bad of [0, -1, 1.5, NaN]) {
      const error = await serveTcp(echo, 0, { host: '127.0.0.1', maxConnections: bad }).catch((e: unknown) => e);
      assert.instance(error, RangeError);
    }
    const error = await serveTcp(echo, 0, 'x' as never).catch((e: unknown) => e);
    assert.instance(error, TypeError, 'a non-object options argument is refused, not read as {}');
  });
});

test('TLS: openssl s_client killed mid-handshake and a client sending garbage end only their handlers', async () => {
  const { key, cert } = makeSelfSignedCertificate();
  await run(() =>
    failAfter(LIMIT_MS, () =>
      openNursery(async (nursery) => {
        const [listener] = await nursery.start(serveTlsOverTcp, echo, 0, { key, cert }, { host: '127.0.0.1' });
        const port = (listener!.address() as AddressInfo).port;
        // Killed at different points of its handshake.
        for (const delay of [0, 5, 20, 50]) {
          await openNursery(async (n) => {
            const proc = await n.start(runProcess, ['openssl', 's_client', '-connect', `127.0.0.1:${port}`, '-quiet'], {
              check: false,
              stdout: 'ignore',
              stderr: 'ignore',
            });
            await sleep(delay);
            proc.kill();
          });
        }
        // Plain text to a TLS server.
        assert.is.not(await echoOnce(port, 'GET / HTTP/1.0\r\n\r\n').catch(() => 'reset'), 'GET / HTTP/1.0\r\n\r\n');
        // A real TLS client is still served.
        const tls = await import('node:tls');
        const reply = await new Promise<string>((resolve, reject) => {
          const socket = tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' }, () => socket.write('over tls'));
          socket.setEncoding('utf8');
          socket.once('data', (d: string) => {
            resolve(d);
            socket.end();
          });
          socket.on('error', reject);
        });
        assert.is(reply, 'over tls');
        nursery.cancelScope.cancel();
      }),
    ),
  );
});

test.run();
