// The same functions for workerpool.
import workerpool from 'workerpool';

workerpool.worker({
  add: (a: number, b: number) => a + b,
  spin: () => {
    for (;;);
  },
});
