// The same functions for workerpool.
import workerpool from 'workerpool';
import { burn } from './burn.js';

workerpool.worker({
  add: (a: number, b: number) => a + b,
  burn,
  spin: () => {
    for (;;);
  },
});
