/**
 * `openSignalReceiver(signals, fn)`: inside `fn`, the given process signals are delivered to an
 * async iterator instead of taking their default action. Repeats of a signal that is still
 * pending coalesce (Trio's rule). When `fn` ends, the listeners are removed: nothing of triode
 * stays installed.
 *
 * SIGINT and `run`: while a receiver for SIGINT is open, Ctrl-C goes to the receiver and the run
 * is not cancelled — the innermost, most specific handler wins, as in Trio. Outside such a block,
 * `run` turns Ctrl-C into KeyboardInterrupt as usual.
 */
import os from 'node:os';
import { cancelPoint, schedulePoint } from '../core/checkpoint.js';
import { ConflictDetector } from '../sync/conflict-detector.js';
import { currentContext } from '../core/context.js';
import { Abort, blockTask, type Wait } from '../core/traps.js';
import { checkFunction, describe } from '../core/validate.js';
import { signalReceiverOpened, signalReceiverClosed } from '../core/sigint.js';

/** Receives the signals of its block: `for await (const signal of receiver)`. */
export class SignalReceiver implements AsyncIterable<NodeJS.Signals> {
  /** Pending signals, oldest first, each at most once. */
  private readonly pending = new Set<NodeJS.Signals>();
  private waiter: Wait | undefined;
  private readonly conflict = new ConflictDetector('another task is already receiving from this SignalReceiver');
  /** @internal */ closed = false;

  /** @internal */
  deliver(signal: NodeJS.Signals): void {
    if (this.closed) return;
    this.pending.add(signal);
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter.reschedule(undefined);
    }
  }

  /**
   * The next signal, waiting until one arrives. A checkpoint; cancellation takes nothing.
   * (Signals come from outside the run: a task waiting here does not count as blocked for
   * MockClock's autojump.)
   */
  async receive(): Promise<NodeJS.Signals> {
    const ctx = currentContext('SignalReceiver.receive');
    this.conflict.enter();
    try {
      for (;;) {
        cancelPoint(ctx);
        for (const signal of this.pending) {
          this.pending.delete(signal);
          const macrotask = schedulePoint(ctx);
          if (macrotask !== undefined) await macrotask;
          return signal;
        }
        if (this.closed) throw new Error('SignalReceiver: the receiver was closed (its block has ended)');
        const wait = blockTask(ctx, () => {
          if (this.waiter === wait) this.waiter = undefined;
          return Abort.SUCCEEDED;
        }, 'a signal', true);
        this.waiter = wait;
        await wait.promise;
      }
    } finally {
      this.conflict.exit();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<NodeJS.Signals> {
    return { next: async () => ({ value: await this.receive(), done: false }) };
  }
}

/**
 * Runs `fn(receiver)` with `signals` delivered to `receiver`, then removes every listener.
 *
 * ```ts
 * await openSignalReceiver(['SIGHUP'], async (receiver) => {
 *   for await (const _ of receiver) await reloadConfig();
 * });
 * ```
 */
export async function openSignalReceiver<T>(
  signals: NodeJS.Signals[],
  fn: (receiver: SignalReceiver) => Promise<T> | T,
): Promise<T> {
  if (!Array.isArray(signals) || signals.length === 0) {
    throw new TypeError(`openSignalReceiver: signals must be a non-empty array of signal names, got ${describe(signals)}`);
  }
  for (const signal of signals) {
    if (typeof signal !== 'string' || !Object.hasOwn(os.constants.signals, signal)) {
      throw new TypeError(`openSignalReceiver: ${describe(signal)} is not a signal name this platform knows (such as 'SIGHUP')`);
    }
  }
  signals = [...new Set(signals)];
  checkFunction('openSignalReceiver', 'fn', fn);
  currentContext('openSignalReceiver');
  const receiver = new SignalReceiver();
  const listeners = signals.map((signal) => {
    const listener = () => receiver.deliver(signal);
    process.on(signal, listener);
    if (signal === 'SIGINT') signalReceiverOpened();
    return [signal, listener] as const;
  });
  try {
    return await fn(receiver);
  } finally {
    receiver.closed = true;
    for (const [signal, listener] of listeners) {
      process.off(signal, listener);
      if (signal === 'SIGINT') signalReceiverClosed();
    }
  }
}
