/** TCP: `openTcpStream` (with Happy Eyeballs) and `openTcpListeners`. */
import dns from 'node:dns';
import net from 'node:net';
import { cancelPoint } from '../core/checkpoint.js';
import { abandonOnCancel } from '../core/abort-signal.js';
import { currentContext } from '../core/context.js';
import { checkDuration, checkInteger, describe, checkOptions } from '../core/validate.js';
import { happyEyeballs } from './happy-eyeballs.js';
import { DEFAULT_BACKLOG, listen, type SocketListener } from './socket-listener.js';
import { connectSocket, type SocketStream } from './socket-stream.js';
import { optionsAndStatus, serveListeners, type ServeListenersOptions } from './serve.js';
import type { TaskStatus } from '../core/nursery.js';

export interface OpenTcpStreamOptions {
  /** How long an attempt may go unanswered before the next address is tried too. Default 250 ms. */
  happyEyeballsDelayMs?: number;
  /** The local address to connect from. */
  localAddress?: string;
}

interface Target {
  address: string;
  family: number;
}

function checkPort(where: string, port: unknown): number {
  checkInteger(where, 'port', port, 0);
  if ((port as number) > 65535) throw new RangeError(`${where}: port must be at most 65535, got ${port as number}`);
  return port as number;
}

function checkHost(where: string, host: unknown): string {
  if (typeof host !== 'string' || host === '') {
    throw new TypeError(`${where}: host must be a non-empty string, got ${describe(host)}`);
  }
  return host;
}

/** Resolves `host` (an IP literal resolves to itself). Cancellation abandons the lookup. */
async function resolve(host: string): Promise<Target[]> {
  const family = net.isIP(host);
  if (family !== 0) return [{ address: host, family }];
  return abandonOnCancel(dns.promises.lookup(host, { all: true, verbatim: true }));
}

/**
 * Orders addresses as RFC 8305 asks: the resolver's first address, then alternating families,
 * so a broken IPv6 (or IPv4) path costs one stagger delay, not one per address.
 */
export function interleaveFamilies<T extends { family: number }>(targets: readonly T[]): T[] {
  if (targets.length === 0) return [];
  const first = targets[0]!.family;
  const same = targets.filter((t) => t.family === first);
  const other = targets.filter((t) => t.family !== first);
  const out: T[] = [];
  for (let i = 0; i < Math.max(same.length, other.length); i++) {
    if (i < same.length) out.push(same[i]!);
    if (i < other.length) out.push(other[i]!);
  }
  return out;
}

/** Connects one socket to one address. A checkpoint; cancellation destroys the socket. */
function connectOne(target: Target, port: number, localAddress: string | undefined): Promise<SocketStream> {
  return connectSocket(
    { host: target.address, port, family: target.family, ...(localAddress ? { localAddress } : {}) },
    'openTcpStream',
  );
}

/**
 * Connects to `host`:`port` over TCP and returns a `SocketStream` (TCP_NODELAY on). Every
 * address `host` resolves to is tried with Happy Eyeballs: families interleaved, a new attempt
 * every `happyEyeballsDelayMs` or as soon as the previous one fails, the first to connect wins
 * and the others are cancelled. When all fail, raises an `AggregateError` of every failure. A
 * checkpoint; cancellation abandons the lookup and every attempt.
 *
 * ```ts
 * const stream = await openTcpStream('example.com', 80);
 * await stream.sendAll(new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n'));
 * ```
 */
export async function openTcpStream(host: string, port: number, options: OpenTcpStreamOptions = {}): Promise<SocketStream> {
  options = checkOptions('openTcpStream', options);
  checkHost('openTcpStream', host);
  checkPort('openTcpStream', port);
  const delay = checkDuration('openTcpStream', 'happyEyeballsDelayMs', options.happyEyeballsDelayMs ?? 250);
  cancelPoint(currentContext('openTcpStream'));
  const targets = interleaveFamilies(await resolve(host));
  return happyEyeballs(
    targets,
    (target) => connectOne(target, port, options.localAddress),
    delay,
    `all attempts to connect to ${host}:${port} failed`,
  );
}

export interface OpenTcpListenersOptions {
  /** The host to listen on; default: every interface, IPv4 and IPv6. */
  host?: string;
  /** The listen backlog, and how many accepted connections may wait for `accept()`. Default 511. */
  backlog?: number;
}

/** Errors meaning "this machine has no such address family": skip it when listening everywhere. */
const NO_FAMILY = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/**
 * Opens one listener per address of `host` (default: `::` and `0.0.0.0`, each family on its
 * own, as Trio does) on `port`. With `port` 0 the first listener picks a free port and the
 * others use the same one. A checkpoint; on failure or cancellation every listener opened so
 * far is closed.
 *
 * ```ts
 * const listeners = await openTcpListeners(0, { host: '127.0.0.1' });
 * console.log(listeners[0].address());
 * ```
 */
export async function openTcpListeners(port: number, options: OpenTcpListenersOptions = {}): Promise<SocketListener[]> {
  options = checkOptions('openTcpListeners', options);
  checkPort('openTcpListeners', port);
  const backlog = checkInteger('openTcpListeners', 'backlog', options.backlog ?? DEFAULT_BACKLOG, 1);
  currentContext('openTcpListeners');
  const everywhere = options.host === undefined;
  const targets: Target[] = everywhere
    ? [
        { address: '::', family: 6 },
        { address: '0.0.0.0', family: 4 },
      ]
    : await resolve(checkHost('openTcpListeners', options.host));
  const listeners: SocketListener[] = [];
  try {
    for (const target of targets) {
      const boundPort = listeners.length > 0 ? (listeners[0]!.address() as net.AddressInfo).port : port;
      try {
        listeners.push(await listen({ host: target.address, port: boundPort, ipv6Only: target.family === 6 }, backlog));
      } catch (error) {
        if (everywhere && NO_FAMILY.has((error as NodeJS.ErrnoException).code ?? '')) continue;
        throw error;
      }
    }
  } catch (error) {
    for (const listener of listeners) listener.server.close();
    throw error;
  }
  if (listeners.length === 0) throw new Error(`openTcpListeners: no address to listen on for port ${port}`);
  return listeners;
}

export type ServeTcpOptions = OpenTcpListenersOptions & ServeListenersOptions;

/**
 * `serveListeners(handler, await openTcpListeners(port, options), options)`: a TCP server,
 * one task per connection. Under `nursery.start` it resolves with the listeners (so port 0
 * works). Never returns; cancel it to stop.
 *
 * ```ts
 * await openNursery(async (nursery) => {
 *   const listeners = await nursery.start(serveTcp, echo, 0, { host: '127.0.0.1' });
 *   console.log('listening on', listeners[0].address());
 * });
 * ```
 */
export async function serveTcp(
  handler: (stream: SocketStream) => unknown,
  port: number,
  options?: ServeTcpOptions | TaskStatus<SocketListener[]>,
  taskStatus?: TaskStatus<SocketListener[]>,
): Promise<never> {
  const [opts, status] = optionsAndStatus<ServeTcpOptions, SocketListener[]>('serveTcp', options, taskStatus);
  const listeners = await openTcpListeners(port, opts);
  return serveListeners(handler, listeners, opts, status);
}
