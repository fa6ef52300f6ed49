/**
 * Memory channels: Trio's `open_memory_channel`, for sending values between tasks of one run.
 *
 * A channel is one shared state and any number of send and receive endpoints (`clone()` makes
 * more). Values move in two ways only: into the buffer when there is room, or straight from a
 * sender to a blocked receiver by rescheduling the receiver's wait with the value (and the other
 * way round when the buffer is full or has size 0). A blocked wait is only ever ended with a
 * value by `reschedule`, and a cancelled one is first removed from its queue by its abort
 * function, so a cancelled `receive` never consumes a value and a cancelled `send` never
 * delivers one.
 *
 * Close rules (Trio's): closing the last send endpoint lets receivers drain the buffer and then
 * get `EndOfChannel`; closing the last receive endpoint makes senders (waiting and later) get
 * `BrokenResourceError` and drops the buffer; using an endpoint you closed gives
 * `ClosedResourceError`, and closing an endpoint wakes the tasks blocked on it with that error.
 */
import {
  BrokenResourceError,
  ClosedResourceError,
  EndOfChannel,
  WouldBlock,
} from '../../shared/errors.js';
import { afterSchedulePoint, cancelPoint, valueAfterSchedulePoint } from '../core/checkpoint.js';
import { currentContext, type Context } from '../core/context.js';
import { Abort, blockTask, type Wait } from '../core/traps.js';
import { checkInteger } from '../core/validate.js';
import { Closeable } from './closeable.js';
import { Deque } from './deque.js';

export interface MemoryChannelStatistics {
  currentBufferUsed: number;
  maxBufferSize: number;
  openSendChannels: number;
  openReceiveChannels: number;
  tasksWaitingSend: number;
  tasksWaitingReceive: number;
}

class ChannelState<T> {
  readonly data = new Deque<T>();
  openSendChannels = 0;
  openReceiveChannels = 0;
  /** Blocked senders, oldest first, with the value each is trying to send. */
  readonly sendWaits = new Map<Wait, T>();
  /** Blocked receivers, oldest first. */
  readonly receiveWaits = new Set<Wait>();
  constructor(readonly maxBufferSize: number) {}

  statistics(): MemoryChannelStatistics {
    return {
      currentBufferUsed: this.data.length,
      maxBufferSize: this.maxBufferSize,
      openSendChannels: this.openSendChannels,
      openReceiveChannels: this.openReceiveChannels,
      tasksWaitingSend: this.sendWaits.size,
      tasksWaitingReceive: this.receiveWaits.size,
    };
  }
}

function iterationResult<T>(value: unknown): IteratorResult<T, undefined> {
  return { value: value as T, done: false };
}

/** The end of a `for await` over a channel: EndOfChannel ends it; anything else rejects. */
function iterationEnd<T>(error: unknown): Promise<IteratorResult<T, undefined>> {
  if (error instanceof EndOfChannel) return Promise.resolve({ value: undefined, done: true });
  return Promise.reject(error);
}

/**
 * A blocked wait keeps its endpoint in customSleepData: close() finds the waits of its own
 * endpoint by scanning the channel's queue (closing is rare; blocking is not).
 */
function abortSend(_raiseCancel: unknown, wait: Wait): Abort {
  (wait.customSleepData as MemorySendChannel<unknown>).state.sendWaits.delete(wait);
  return Abort.SUCCEEDED;
}

function abortReceive(_raiseCancel: unknown, wait: Wait): Abort {
  (wait.customSleepData as MemoryReceiveChannel<unknown>).state.receiveWaits.delete(wait);
  return Abort.SUCCEEDED;
}

function firstOf<K>(items: Iterable<K>): K | undefined {
  for (const item of items) return item;
  return undefined;
}

/**
 * What both endpoint kinds share: the channel state and their own closed flag (the ways to
 * close come from Closeable).
 */
abstract class Endpoint<T> extends Closeable {
  /** @internal */ readonly state: ChannelState<T>;
  protected closed = false;

  constructor(state: ChannelState<T>) {
    super();
    this.state = state;
  }

  statistics(): MemoryChannelStatistics {
    return this.state.statistics();
  }
}

/** The sending end of a memory channel. */
export class MemorySendChannel<T> extends Endpoint<T> {
  /** @internal use openMemoryChannel */
  constructor(state: ChannelState<T>) {
    super(state);
    state.openSendChannels++;
  }

  /**
   * Sends without waiting: hands the value to a waiting receiver or buffers it; throws
   * `WouldBlock` when the buffer is full, `BrokenResourceError` when no receiver is left,
   * `ClosedResourceError` after `close()`. Not a checkpoint.
   */
  sendNowait(value: T): void {
    if (!this.trySend(value)) throw new WouldBlock('the channel buffer is full');
  }

  private trySend(value: T): boolean {
    if (this.closed) throw new ClosedResourceError('this send channel was closed');
    const state = this.state;
    if (state.openReceiveChannels === 0) throw new BrokenResourceError('every receive channel was closed');
    const receiver = state.receiveWaits.size > 0 ? firstOf(state.receiveWaits) : undefined;
    if (receiver !== undefined) {
      state.receiveWaits.delete(receiver);
      receiver.reschedule({ value });
      return true;
    }
    if (state.data.length < state.maxBufferSize) {
      state.data.push(value);
      return true;
    }
    return false;
  }

  /**
   * Sends `value`, waiting while the buffer is full (or, for a rendezvous channel, until a
   * receiver takes it). A checkpoint. Cancelled: the value was not sent. Rejects with
   * `BrokenResourceError` if every receiver is closed, `ClosedResourceError` if this endpoint is.
   */
  send(value: T): Promise<void> {
    // Not an async function (nor are receive and the iterator's next): a channel operation that
    // does not block hands back a settled promise, and the caller's await is its schedule point.
    try {
      const ctx = currentContext('MemorySendChannel.send');
      cancelPoint(ctx);
      if (this.trySend(value)) return afterSchedulePoint(ctx);
      const wait = blockTask(ctx, abortSend, 'MemorySendChannel.send');
      wait.customSleepData = this;
      this.state.sendWaits.set(wait, value);
      return wait.promise as Promise<void>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Another send endpoint of the same channel; the channel stays open while any is open. */
  clone(): MemorySendChannel<T> {
    if (this.closed) throw new ClosedResourceError('cannot clone a closed send channel');
    return new MemorySendChannel(this.state);
  }

  /** Closes this endpoint (idempotent, not a checkpoint). Tasks blocked sending on it get `ClosedResourceError`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const state = this.state;
    for (const wait of Array.from(state.sendWaits.keys())) {
      if (wait.customSleepData !== this) continue;
      state.sendWaits.delete(wait);
      wait.reschedule({ error: new ClosedResourceError('the send channel was closed while sending') });
    }
    state.openSendChannels--;
    if (state.openSendChannels === 0) {
      for (const wait of state.receiveWaits) {
        wait.reschedule({ error: new EndOfChannel('every send channel was closed') });
      }
      state.receiveWaits.clear();
    }
  }

}

/** The receiving end of a memory channel; `for await (const v of channel)` receives until EndOfChannel. */
export class MemoryReceiveChannel<T> extends Endpoint<T> implements AsyncIterable<T> {
  /** @internal use openMemoryChannel */
  constructor(state: ChannelState<T>) {
    super(state);
    state.openReceiveChannels++;
  }

  /**
   * Receives without waiting; throws `WouldBlock` when nothing is there, `EndOfChannel` when the
   * buffer is empty and every sender closed, `ClosedResourceError` after `close()`. Not a checkpoint.
   */
  receiveNowait(): T {
    if (this.closed) throw new ClosedResourceError('this receive channel was closed');
    const state = this.state;
    const sender = state.sendWaits.size > 0 ? firstOf(state.sendWaits.keys()) : undefined;
    if (sender !== undefined) {
      // A blocked sender means the buffer is full (or size 0): its value goes in behind the rest.
      const value = state.sendWaits.get(sender) as T;
      state.sendWaits.delete(sender);
      sender.reschedule(undefined);
      state.data.push(value);
    }
    if (state.data.length > 0) return state.data.shift() as T;
    if (state.openSendChannels === 0) throw new EndOfChannel('every send channel was closed');
    throw new WouldBlock('the channel is empty');
  }

  /** True when receiveNowait would not throw WouldBlock (a value, a sender, or the end). */
  private ready(): boolean {
    const state = this.state;
    return state.data.length > 0 || state.sendWaits.size > 0 || state.openSendChannels === 0 || this.closed;
  }

  private park(ctx: Context): Promise<unknown> {
    const wait = blockTask(ctx, abortReceive, 'MemoryReceiveChannel.receive');
    wait.customSleepData = this;
    this.state.receiveWaits.add(wait);
    return wait.promise;
  }

  /**
   * Receives the next value, waiting until there is one. A checkpoint. Cancelled: no value was
   * taken. Rejects with `EndOfChannel` once the buffer is drained and every sender closed.
   */
  receive(): Promise<T> {
    try {
      const ctx = currentContext('MemoryReceiveChannel.receive');
      cancelPoint(ctx);
      if (!this.ready()) return this.park(ctx) as Promise<T>;
      return valueAfterSchedulePoint(ctx, this.receiveNowait());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The async-iterator step: `receive()` that reports `EndOfChannel` as the end of iteration.
   * Written out (rather than as an async generator) because a generator costs several promises
   * per value.
   */
  private next(): Promise<IteratorResult<T, undefined>> {
    try {
      const ctx = currentContext('MemoryReceiveChannel iteration');
      cancelPoint(ctx);
      if (!this.ready()) return this.park(ctx).then(iterationResult<T>, iterationEnd<T>);
      return valueAfterSchedulePoint(ctx, iterationResult<T>(this.receiveNowait()));
    } catch (error) {
      return iterationEnd(error);
    }
  }

  /** Another receive endpoint of the same channel. */
  clone(): MemoryReceiveChannel<T> {
    if (this.closed) throw new ClosedResourceError('cannot clone a closed receive channel');
    return new MemoryReceiveChannel(this.state);
  }

  /**
   * Closes this endpoint (idempotent, not a checkpoint). Tasks blocked receiving on it get
   * `ClosedResourceError`; when it was the last receiver, senders get `BrokenResourceError` and
   * the buffer is dropped.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const state = this.state;
    for (const wait of Array.from(state.receiveWaits)) {
      if (wait.customSleepData !== this) continue;
      state.receiveWaits.delete(wait);
      wait.reschedule({ error: new ClosedResourceError('the receive channel was closed while receiving') });
    }
    state.openReceiveChannels--;
    if (state.openReceiveChannels === 0) {
      for (const wait of state.sendWaits.keys()) {
        wait.reschedule({ error: new BrokenResourceError('every receive channel was closed') });
      }
      state.sendWaits.clear();
      state.data.clear();
    }
  }

  /** Receives values until `EndOfChannel`. Breaking out of the loop does not close the channel. */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return { next: () => this.next() };
  }
}

/**
 * Opens a channel for sending values between tasks. `maxBufferSize` is how many values may wait
 * in it: 0 makes every `send` wait for a `receive` (a rendezvous), `Infinity` never blocks senders.
 *
 * ```ts
 * const [tx, rx] = openMemoryChannel<number>(0);
 * await openNursery(async (n) => {
 *   n.startSoon(() => tx.use(async () => { for (let i = 0; i < 3; i++) await tx.send(i); }));
 *   for await (const value of rx) console.log(value);
 * });
 * ```
 */
export function openMemoryChannel<T>(maxBufferSize: number): [MemorySendChannel<T>, MemoryReceiveChannel<T>] {
  checkInteger('openMemoryChannel', 'maxBufferSize', maxBufferSize, 0, true);
  const state = new ChannelState<T>(maxBufferSize);
  return [new MemorySendChannel(state), new MemoryReceiveChannel(state)];
}
