// The work of `npm run demo` (examples/demo.ts): compressing text that each call generates from
// a seed, so a call carries a few numbers in and a few numbers out and all its time is compute.
// The same functions run on the main thread for the one-thread baseline.
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { checkpoint } from 'triode/worker';

const WORDS = ['structured', 'concurrency', 'nursery', 'cancel', 'scope', 'deadline', 'checkpoint', 'channel',
  'worker', 'thread', 'shared', 'memory', 'ring', 'buffer', 'task', 'error', 'group', 'signal', 'trio', 'node'];

/** Deterministic text from a seed (a small xorshift PRNG picking words): compressible, not trivial. */
export function generateText(seed: number, kilobytes: number): Buffer {
  let x = (seed * 2654435761) >>> 0 || 1;
  const parts: string[] = [];
  let length = 0;
  while (length < kilobytes * 1024) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const word = WORDS[x % WORDS.length]!;
    const piece = (x & 0x100) !== 0 ? `${word} ${x % 1000} ` : `${word} `;
    parts.push(piece);
    length += piece.length;
  }
  return Buffer.from(parts.join(''));
}

export interface Compressed {
  seed: number;
  inBytes: number;
  outBytes: number;
  digest: string;
}

/** One job: generate, compress at level 9, and fingerprint the result. */
export function compress(seed: number, kilobytes: number): Compressed {
  const text = generateText(seed, kilobytes);
  const packed = deflateSync(text, { level: 9 });
  return { seed, inBytes: text.length, outBytes: packed.length, digest: createHash('sha256').update(packed).digest('hex').slice(0, 16) };
}

/**
 * The `--cancel` mode's job: compresses chunk after chunk for up to `ms`, checking for
 * cancellation between chunks (so the caller's cancel scope reaches it within one chunk).
 */
export async function compressFor(seed: number, ms: number): Promise<number> {
  const until = Date.now() + ms;
  let chunks = 0;
  while (Date.now() < until) {
    compress(seed + chunks, 16);
    chunks++;
    await checkpoint();
  }
  return chunks;
}

/** The job that fails in `--cancel` mode, after `ms` of work. */
export async function failAfterWork(ms: number): Promise<never> {
  await compressFor(0, ms);
  throw new Error(`job failed on purpose after ${ms} ms of work`);
}
