/**
 * `SocketListener`: a triode `Listener` over a listening `net.Server` (TCP or Unix domain).
 *
 * Node accepts connections on its own; the listener keeps them (paused: no byte is read until
 * a `SocketStream` reads) until a task calls `accept()`. At most `backlog` connections wait
 * unclaimed — further ones are closed at once, as a full kernel backlog would refuse them — so
 * a server that stops accepting does not collect sockets without bound.
 */
import net from 'node:net';
import { ClosedResourceError } from '../../shared/errors.js';
import { cancelPoint, checkpoint, schedulePoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import { ParkingLot } from '../sync/parking-lot.js';
import { checkInteger } from '../core/validate.js';
import { waitForEvent } from '../core/wait-event.js';
import type { Listener } from './abc.js';
import { SocketStream } from './socket-stream.js';

/** Node's default listen backlog. */
export const DEFAULT_BACKLOG = 511;

/** Options every server a triode listener makes is created with. */
export const SERVER_OPTIONS: net.ServerOpts = { allowHalfOpen: true, pauseOnConnect: true, noDelay: true, highWaterMark: 65_536 };

export class SocketListener implements Listener<SocketStream> {
  /** The wrapped server. Do not listen for its `'connection'` events yourself. */
  readonly server: net.Server;
  private readonly pending: (net.Socket | Error)[] = [];
  private readonly acceptors = new ParkingLot();
  private closed = false;
  /** Connections closed because `backlog` of them were already waiting unclaimed. */
  dropped = 0;

  /** Wraps a listening server. `backlog` bounds the connections kept waiting for `accept()`. */
  constructor(server: net.Server, readonly backlog = DEFAULT_BACKLOG) {
    if (!(server instanceof net.Server)) throw new TypeError('SocketListener: server must be a net.Server');
    checkInteger('SocketListener', 'backlog', backlog, 1);
    this.server = server;
    server.on('connection', (socket: net.Socket) => this.arrived(socket));
    // Accept failures (EMFILE, ENFILE, ENOBUFS, ENOMEM) go to the next accept(); serveListeners
    // logs and retries them.
    server.on('error', (error: Error) => this.arrived(error));
  }

  private arrived(item: net.Socket | Error): void {
    if (this.closed) {
      if (item instanceof net.Socket) item.destroy();
      return;
    }
    if (this.acceptors.unparkWith(item instanceof Error ? { error: item } : { value: item })) return;
    if (item instanceof net.Socket && this.pending.length >= this.backlog) {
      this.dropped++;
      item.destroy();
      return;
    }
    this.pending.push(item);
  }

  /** The address the server listens on (`{ port, address, family }`, or a path for Unix sockets). */
  address(): net.AddressInfo | string | null {
    return this.server.address();
  }

  /**
   * Waits for the next connection and returns it as a `SocketStream`. A checkpoint; a cancelled
   * accept loses no connection. Several tasks may accept at once (first come, first served).
   */
  async accept(): Promise<SocketStream> {
    const ctx = currentContext('SocketListener.accept');
    cancelPoint(ctx);
    if (this.closed) throw new ClosedResourceError('this SocketListener was closed');
    const item = this.pending.shift();
    let socket: net.Socket;
    if (item === undefined) {
      socket = (await this.acceptors.parkWait(ctx, 'SocketListener.accept').promise) as net.Socket;
    } else {
      if (item instanceof Error) throw item;
      socket = item;
      const yieldNow = schedulePoint(ctx);
      if (yieldNow !== undefined) await yieldNow;
    }
    return new SocketStream(socket);
  }

  /** Stops listening and closes unclaimed connections; blocked `accept`s raise `ClosedResourceError`. */
  async aclose(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.server.close();
      for (const item of this.pending.splice(0)) if (item instanceof net.Socket) item.destroy();
      const error = new ClosedResourceError('this SocketListener was closed');
      while (this.acceptors.unparkWith({ error })) {
        // every blocked accept raises ClosedResourceError
      }
    }
    await checkpoint();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

/**
 * Creates a server, listens with `options`, and wraps it. A checkpoint; cancellation or a failure
 * closes the server. (No I/O callback runs between 'listening' and the wrapping, so no
 * connection can arrive unseen.)
 */
export async function listen(options: net.ListenOptions, backlog: number): Promise<SocketListener> {
  const server = net.createServer(SERVER_OPTIONS);
  try {
    server.listen({ ...options, backlog });
    await waitForEvent(server, 'listening', 'listen', () => server.close());
  } catch (error) {
    server.close();
    throw error;
  }
  return new SocketListener(server, backlog);
}
