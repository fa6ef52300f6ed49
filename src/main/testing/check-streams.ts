/**
 * Conformance checks for stream implementations (Trio's `check_one_way_stream` and friends).
 *
 * Each check opens fresh pairs with `makePair()`, drives them through the behaviour every triode
 * stream promises — data intact and in order, `maxBytes` honoured, `BusyResourceError` for
 * concurrent use, `ClosedResourceError` after your own close, `BrokenResourceError` after the
 * peer's, end of stream, cancelled receives losing nothing, closing while cancelled — and throws
 * an `AssertionError` naming the broken rule. Call them inside `run()`:
 *
 * ```ts
 * await run(() => checkTwoWayStream(async () => memoryStreamPair()));
 * ```
 */
import { AssertionError } from 'node:assert';
import {
  BrokenResourceError,
  BusyResourceError,
  ClosedResourceError,
  ExceptionGroup,
} from '../../shared/errors.js';
import { CancelScope } from '../core/cancel-scope.js';
import { openNursery } from '../core/nursery.js';
import type { AsyncResource, HalfCloseableStream, ReceiveStream, SendStream, Stream } from '../streams/abc.js';
import { acloseForcefully } from '../streams/aclose-forcefully.js';
import { waitAllTasksBlocked } from './wait-all-tasks-blocked.js';

export type PairMaker<A, B> = () => Promise<[A, B]>;

function fail(rule: string, detail?: string): never {
  throw new AssertionError({ message: `stream check failed: ${rule}${detail ? ` (${detail})` : ''}` });
}

function check(ok: boolean, rule: string, detail?: string): void {
  if (!ok) fail(rule, detail);
}

/** Runs `fn` and checks it raises an error of class `cls` (alone or inside an ExceptionGroup). */
async function expectError(cls: new (...args: never[]) => Error, rule: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof cls) return;
    if (error instanceof ExceptionGroup && error.subgroup((e) => e instanceof cls) !== undefined) return;
    fail(rule, `raised ${(error as Error)?.name ?? String(error)}: ${(error as Error)?.message ?? ''}`);
  }
  fail(rule, 'nothing was raised');
}

/** The first AssertionError inside `error` (a nursery wraps a failed check in a group). */
function firstAssertion(error: unknown): unknown {
  if (error instanceof ExceptionGroup) {
    for (const inner of error.errors) {
      const found = firstAssertion(inner);
      if (found instanceof AssertionError) return found;
    }
  }
  return error;
}

/** Opens a pair, runs `fn` on it, and closes both ends forcefully whatever happens. */
async function withPair<A extends AsyncResource, B extends AsyncResource>(
  makePair: PairMaker<A, B>,
  fn: (a: A, b: B) => Promise<void>,
): Promise<void> {
  const [a, b] = await makePair();
  try {
    await fn(a, b);
  } catch (error) {
    throw firstAssertion(error);
  } finally {
    await acloseForcefully(a);
    await acloseForcefully(b);
  }
}

/** Deterministic pseudo-random bytes (a check must not depend on Math.random). */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

async function receiveExactly(stream: ReceiveStream, length: number, maxBytes?: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const chunk = await stream.receiveSome(maxBytes);
    if (chunk.length === 0) fail('receiveSome returns an empty array only at end of stream', `end after ${filled} of ${length} bytes`);
    if (maxBytes !== undefined) check(chunk.length <= maxBytes, 'receiveSome returns at most maxBytes bytes', `${chunk.length} > ${maxBytes}`);
    check(filled + chunk.length <= length, 'the receiver gets exactly the bytes sent', 'more bytes than were sent');
    out.set(chunk, filled);
    filled += chunk.length;
  }
  return out;
}

/**
 * Sends `data` in chunks of varying size while receiving it with varying `maxBytes`. `end` then
 * ends the sending side (so a stream that loses bytes fails the check instead of hanging).
 */
async function transfer(send: SendStream, receive: ReceiveStream, data: Uint8Array, end?: () => Promise<void>): Promise<void> {
  let got: Uint8Array | undefined;
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      let offset = 0;
      let size = 1;
      while (offset < data.length) {
        await send.sendAll(data.subarray(offset, offset + size));
        offset += size;
        size = (size * 7 + 13) % 20_000 || 1;
      }
      await end?.();
    });
    const parts: Uint8Array[] = [];
    let total = 0;
    let max = 3;
    while (total < data.length) {
      const chunk = await receive.receiveSome(max);
      if (chunk.length === 0) fail('receiveSome returns an empty array only at end of stream', `end after ${total} bytes`);
      check(chunk.length <= max, 'receiveSome returns at most maxBytes bytes', `${chunk.length} > ${max}`);
      parts.push(chunk.slice());
      total += chunk.length;
      max = (max * 5 + 11) % 70_000 || 1;
    }
    got = Buffer.concat(parts);
  });
  check(sameBytes(got!, data), 'bytes arrive intact and in order');
}

/** The stream's `sendEof`, when it is half-closeable. */
function sendEofOf(stream: Stream): (() => Promise<void>) | undefined {
  const eof = (stream as Partial<HalfCloseableStream>).sendEof;
  return typeof eof === 'function' ? () => eof.call(stream) : undefined;
}

async function expectEndOfStream(receive: ReceiveStream, rule: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const chunk = await receive.receiveSome();
    check(chunk.length === 0, rule, `got ${chunk.length} bytes instead of the end of stream`);
  }
}

/**
 * Checks a one-way stream pair `[send, receive]`. `makeCloggedPair`, when given, makes a pair
 * whose `sendAll` blocks until the receiver reads (then closing a blocked sender is checked too).
 */
export async function checkOneWayStream<S extends SendStream, R extends ReceiveStream>(
  makePair: PairMaker<S, R>,
  makeCloggedPair?: PairMaker<S, R>,
): Promise<void> {
  // Data intact, in order, maxBytes honoured; empty sends allowed.
  await withPair(makePair, async (s, r) => {
    await openNursery(async (nursery) => {
      nursery.startSoon(async () => {
        await s.sendAll(new Uint8Array(0));
        await s.sendAll(new TextEncoder().encode('x'));
      });
      check(new TextDecoder().decode(await receiveExactly(r, 1, 1)) === 'x', 'a one-byte message arrives');
    });
    await transfer(s, r, pattern(300_000, 1), () => s.aclose());
  });

  // Bad arguments name themselves.
  await withPair(makePair, async (s, r) => {
    for (const bad of [0, -1, 1.5]) {
      await expectError(RangeError, `receiveSome(${bad}) raises RangeError`, () => r.receiveSome(bad));
    }
    await expectError(TypeError, 'receiveSome("10") raises TypeError', () => r.receiveSome('10' as unknown as number));
    await expectError(TypeError, 'sendAll("text") raises TypeError', () => s.sendAll('text' as unknown as Uint8Array));
  });

  // Two concurrent sendAlls, two concurrent receiveSomes: BusyResourceError.
  await withPair(makePair, async (s) => {
    await expectError(BusyResourceError, 'concurrent sendAll calls raise BusyResourceError', () =>
      openNursery(async (nursery) => {
        nursery.startSoon(() => s.sendAll(pattern(1000, 2)));
        nursery.startSoon(() => s.sendAll(pattern(1000, 3)));
      }),
    );
  });
  await withPair(makePair, async (_s, r) => {
    await expectError(BusyResourceError, 'concurrent receiveSome calls raise BusyResourceError', () =>
      openNursery(async (nursery) => {
        nursery.startSoon(() => r.receiveSome(10));
        nursery.startSoon(() => r.receiveSome(10));
      }),
    );
  });
  await withPair(makePair, async (s) => {
    await expectError(BusyResourceError, 'waitSendAllMightNotBlock during sendAll raises BusyResourceError', () =>
      openNursery(async (nursery) => {
        nursery.startSoon(() => s.sendAll(pattern(1000, 4)));
        nursery.startSoon(() => s.waitSendAllMightNotBlock());
      }),
    );
  });

  // A cancelled receiveSome consumes nothing.
  await withPair(makePair, async (s, r) => {
    const scope = new CancelScope();
    await openNursery(async (nursery) => {
      nursery.startSoon(() => scope.run(() => r.receiveSome()));
      await waitAllTasksBlocked();
      scope.cancel();
    });
    check(scope.cancelledCaught, 'a blocked receiveSome can be cancelled');
    const message = pattern(100, 5);
    await openNursery(async (nursery) => {
      nursery.startSoon(() => s.sendAll(message));
      check(sameBytes(await receiveExactly(r, 100), message), 'a cancelled receiveSome consumes nothing');
    });
  });

  // Closing the sender: the receiver drains, then sees the end of stream (again and again); the
  // closed sender raises ClosedResourceError; aclose is idempotent.
  await withPair(makePair, async (s, r) => {
    const message = pattern(1000, 6);
    await openNursery(async (nursery) => {
      nursery.startSoon(async () => {
        await s.sendAll(message);
        await s.aclose();
        await s.aclose();
      });
      check(sameBytes(await receiveExactly(r, 1000), message), 'data sent before close is delivered');
      await expectEndOfStream(r, 'after the sender closes, receiveSome returns empty arrays');
    });
    await expectError(ClosedResourceError, 'sendAll after aclose raises ClosedResourceError', () => s.sendAll(message));
    await expectError(ClosedResourceError, 'waitSendAllMightNotBlock after aclose raises ClosedResourceError', () =>
      s.waitSendAllMightNotBlock(),
    );
  });

  // for await reads every chunk until the end of stream.
  await withPair(makePair, async (s, r) => {
    const message = pattern(50_000, 7);
    await openNursery(async (nursery) => {
      nursery.startSoon(async () => {
        await s.sendAll(message);
        await s.aclose();
      });
      const parts: Uint8Array[] = [];
      for await (const chunk of r) parts.push(chunk.slice());
      check(sameBytes(Buffer.concat(parts), message), 'for await yields every chunk until the end of stream');
    });
  });

  // Closing the receiver: receiveSome raises ClosedResourceError, also in a task blocked in it;
  // the sender eventually raises BrokenResourceError.
  await withPair(makePair, async (s, r) => {
    await openNursery(async (nursery) => {
      nursery.startSoon(() =>
        expectError(ClosedResourceError, 'closing a stream raises ClosedResourceError in a task blocked in receiveSome', () =>
          r.receiveSome(),
        ),
      );
      await waitAllTasksBlocked();
      // Forcefully, as in Trio's check: a polite close may need the idle peer (a TLS handshake).
      await acloseForcefully(r);
    });
    await r.aclose();
    await expectError(ClosedResourceError, 'receiveSome after aclose raises ClosedResourceError', () => r.receiveSome());
    await expectError(BrokenResourceError, 'after the receiver closes, sendAll raises BrokenResourceError', async () => {
      for (let i = 0; i < 100_000; i++) {
        await s.sendAll(pattern(1024, 8));
        if (i % 64 === 63) await waitAllTasksBlocked();
      }
    });
  });

  // aclose closes even when the caller is cancelled; acloseForcefully closes.
  await withPair(makePair, async (s, r) => {
    const scope = new CancelScope();
    scope.cancel();
    await scope.run(() => r.aclose());
    await expectError(ClosedResourceError, 'aclose in a cancelled scope still closes', () => r.receiveSome());
    await acloseForcefully(s);
    await expectError(ClosedResourceError, 'acloseForcefully closes', () => s.sendAll(pattern(10, 9)));
  });

  // waitSendAllMightNotBlock returns while a receiver is waiting.
  await withPair(makePair, async (s, r) => {
    await openNursery(async (nursery) => {
      nursery.startSoon(() => receiveExactly(r, 10));
      await s.waitSendAllMightNotBlock();
      await s.sendAll(pattern(10, 10));
    });
  });

  if (makeCloggedPair !== undefined) {
    // Closing a sender while another task is blocked in its sendAll.
    await withPair(makeCloggedPair, async (s) => {
      await openNursery(async (nursery) => {
        nursery.startSoon(() =>
          expectError(ClosedResourceError, 'closing a stream raises ClosedResourceError in a task blocked in sendAll', async () => {
            for (;;) await s.sendAll(pattern(65_536, 11));
          }),
        );
        await waitAllTasksBlocked();
        await s.aclose();
      });
    });
    // A blocked sendAll can be cancelled.
    await withPair(makeCloggedPair, async (s) => {
      const scope = new CancelScope();
      await openNursery(async (nursery) => {
        nursery.startSoon(() =>
          scope.run(async () => {
            for (;;) await s.sendAll(pattern(65_536, 12));
          }),
        );
        await waitAllTasksBlocked();
        scope.cancel();
      });
      check(scope.cancelledCaught, 'a blocked sendAll can be cancelled');
      // The stream is clogged: waitSendAllMightNotBlock waits (or returns); either way a
      // cancellation must end it (a wait that ignores it hangs here).
      const waitScope = new CancelScope();
      await openNursery(async (nursery) => {
        nursery.startSoon(() => waitScope.run(() => s.waitSendAllMightNotBlock()));
        await waitAllTasksBlocked();
        waitScope.cancel();
      });
    });
  }
}

/** Checks a two-way stream pair: each direction as a one-way stream, and both at once. */
export async function checkTwoWayStream<S extends Stream>(makePair: PairMaker<S, S>, makeCloggedPair?: PairMaker<S, S>): Promise<void> {
  await checkOneWayStream(makePair, makeCloggedPair);
  const flipped = async (): Promise<[S, S]> => {
    const [a, b] = await makePair();
    return [b, a];
  };
  await checkOneWayStream(flipped);

  // Both directions at once, with more data than any buffer holds: no deadlock, no corruption.
  await withPair(makePair, async (a, b) => {
    await openNursery(async (nursery) => {
      nursery.startSoon(() => transfer(a, b, pattern(1_000_000, 13), sendEofOf(a)));
      nursery.startSoon(() => transfer(b, a, pattern(1_000_000, 14), sendEofOf(b)));
    });
  });

  // Closing one end: the other sees the end of stream (or a broken stream), never a hang. The
  // close runs while the peer receives, as in Trio's check: a stream may need its peer to close
  // politely (TLS finishes its handshake to send close-notify).
  await withPair(makePair, async (a, b) => {
    await openNursery(async (nursery) => {
      nursery.startSoon(async () => {
        try {
          await expectEndOfStream(b, 'after the peer closes, receiveSome returns the end of stream');
        } catch (error) {
          if (!(error instanceof BrokenResourceError)) throw error;
        }
      });
      nursery.startSoon(() => a.aclose());
    });
  });
}

/** Checks a half-closeable stream pair: `sendEof` ends one direction and leaves the other open. */
export async function checkHalfCloseableStream<S extends HalfCloseableStream>(
  makePair: PairMaker<S, S>,
  makeCloggedPair?: PairMaker<S, S>,
): Promise<void> {
  await checkTwoWayStream(makePair, makeCloggedPair);

  await withPair(makePair, async (a, b) => {
    const ping = pattern(5000, 15);
    const pong = pattern(7000, 16);
    await openNursery(async (nursery) => {
      nursery.startSoon(async () => {
        await a.sendAll(ping);
        await a.sendEof();
        await a.sendEof();
        check(sameBytes(await receiveExactly(a, pong.length), pong), 'after sendEof the stream still receives');
        await expectEndOfStream(a, 'after both sides sent EOF, receiveSome returns the end of stream');
      });
      check(sameBytes(await receiveExactly(b, ping.length), ping), 'data sent before sendEof is delivered');
      await expectEndOfStream(b, 'after the peer sends EOF, receiveSome returns empty arrays');
      await b.sendAll(pong);
      await b.sendEof();
    });
    await expectError(ClosedResourceError, 'sendAll after sendEof raises ClosedResourceError', () => a.sendAll(ping));
  });

  if (makeCloggedPair !== undefined) {
    await withPair(makeCloggedPair, async (a) => {
      await expectError(BusyResourceError, 'sendEof during a blocked sendAll raises BusyResourceError', () =>
        openNursery(async (nursery) => {
          nursery.startSoon(async () => {
            for (;;) await a.sendAll(pattern(65_536, 17));
          });
          await waitAllTasksBlocked();
          nursery.startSoon(() => a.sendEof());
        }),
      );
    });
  }
}
