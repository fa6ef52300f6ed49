// The raw worker_threads dispatcher's thread: answers { id, op, a, b } with { id, value }.
import { parentPort } from 'node:worker_threads';
import { burn } from './burn.js';

parentPort!.on('message', ({ id, op, a, b }: { id: number; op: string; a: number; b: number }) => {
  parentPort!.postMessage({ id, value: op === 'burn' ? burn(a) : a + b });
});
