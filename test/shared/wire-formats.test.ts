// What crosses from another thread is decoded without trust: garbage job frames, outcomes and
// error forms fail with a TypeError (the one call that read them fails) or decode to plain
// values — never another kind of exception, never a hang or a crash. (The decoders are internal,
// so this test imports them from src/shared.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createExportTable, decodeJob, decodeOutcome, encodeJob, encodeOutcome, ExportTableReader, ExportTableWriter } from '../../src/shared/job-codec.js';
import { errorFromWire, errorToWire } from '../../src/shared/error-wire.js';

function failsWithTypeErrorOrDecodes(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, TypeError, `not a TypeError: ${String(error)}`);
  }
}

test('random bytes as a job frame or an outcome: decoded, or refused with a TypeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      failsWithTypeErrorOrDecodes(() => decodeJob(bytes));
      failsWithTypeErrorOrDecodes(() => decodeOutcome(bytes));
    }),
    { numRuns: 2000 },
  );
});

test('a valid job frame with bytes flipped or cut short: decoded, or refused with a TypeError', () => {
  const frame = encodeJob({ url: 'file:///m.js', exportName: 'f' }, [1, 'two', true, null, { three: [3] }], 1 << 20, [['local', 'v']], true, 3)!.slice();
  const job = decodeJob(frame);
  assert.equal(job, { side: false, killable: true, replyTo: 3, ref: { url: 'file:///m.js', exportName: 'f' }, args: [1, 'two', true, null, { three: [3] }], locals: [['local', 'v']] });
  fc.assert(
    fc.property(fc.nat(frame.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(frame.length), (at, value, cut) => {
      const damaged = frame.slice(0, cut);
      if (at < damaged.length) damaged[at] = value;
      failsWithTypeErrorOrDecodes(() => decodeJob(damaged));
    }),
    { numRuns: 2000 },
  );
});

test('an outcome round-trips; a forged export id is refused with a TypeError', () => {
  assert.equal(decodeOutcome(encodeOutcome({ ok: true, value: 'x' }).slice()), { ok: true, value: 'x' });
  const writer = new ExportTableWriter(createExportTable());
  const id = writer.refOf('file:///m.js', 'f') as number;
  const reader = new ExportTableReader(writer.sab);
  assert.equal(reader.lookup(id), { url: 'file:///m.js', exportName: 'f' });
  assert.throws(() => reader.lookup(id + 1000), (e: unknown) => e instanceof TypeError);
});

test('any value as an error form: an Error or the value itself, never an exception', () => {
  fc.assert(
    fc.property(fc.anything(), fc.anything(), (a, b) => {
      errorFromWire(a);
      errorFromWire(['triode.error', a]);
      errorFromWire(['triode.error', { className: a, name: 'E', message: 'm', cause: b, errors: b, props: b }]);
    }),
    { numRuns: 1000 },
  );
  const round = errorFromWire(errorToWire(new RangeError('r', { cause: new TypeError('t') }))) as Error;
  assert.instance(round, RangeError);
  assert.instance(round.cause, TypeError);
});

test.run();
