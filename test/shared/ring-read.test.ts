// readFrames hands small payloads over as views of the reading thread's scratch when asked
// (`borrowed`). A sink that reads another ring meanwhile must not overwrite the frames its
// outer read has yet to hand over: a nested read gets a scratch of its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRing, openEndpoint, readFrames, tryWrite, viewRing } from '../../src/shared/ring.js';

function ringWith(values: number[]) {
  const ring = viewRing(createRing(4096));
  openEndpoint(ring, 'receive');
  for (const value of values) tryWrite(ring, value, new Uint8Array(16).fill(value), 0);
  return ring;
}

for (const borrowed of [true, false]) {
  test(`a sink that reads another ring: every frame of both arrives intact (borrowed: ${borrowed})`, () => {
    const outer = ringWith([1, 2, 3]);
    const inner = ringWith([7, 8, 9]);
    const seen: string[] = [];
    const check = (ring: string) => (tag: number, payload: Uint8Array) => {
      assert.ok(payload.every((byte) => byte === tag), `${ring} frame ${tag} intact`);
      seen.push(`${ring}${tag}`);
    };
    const innerSink = check('inner');
    const outerCheck = check('outer');
    readFrames(outer, 10, (tag, payload) => {
      outerCheck(tag, payload);
      if (tag === 1) readFrames(inner, 10, innerSink, undefined, borrowed);
    }, undefined, borrowed);
    assert.equal(seen, ['outer1', 'inner7', 'inner8', 'inner9', 'outer2', 'outer3']);
  });
}

test.run();
