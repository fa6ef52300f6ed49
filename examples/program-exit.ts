// How the example programs end when their run fails: Ctrl-C exits with 130 and a timeout with 1,
// each after one summary line; any other error is a bug and is rethrown (with its stack).
import { KeyboardInterrupt, TooSlowError } from 'triode';

export function endProgram(error: unknown, summary: (what: string) => void, timeoutMs: number): void {
  if (error instanceof KeyboardInterrupt) {
    summary('interrupted');
    process.exitCode = 130;
  } else if (error instanceof TooSlowError) {
    summary(`timed out after ${timeoutMs} ms`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
