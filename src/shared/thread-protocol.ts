/**
 * What a pool thread and the main thread say to each other outside the rings (scheduler.ts):
 * the thread's setup, and the few messages of the side path. Everything a thread sends is
 * checked for shape by the pool before use.
 */

/** Given to each pool thread as its workerData. */
export interface ThreadSetup {
  readonly submissions: SharedArrayBuffer;
  /** Reply rings: [0] the main thread's, [i + 1] pool thread i's (this one's is [index + 1]). */
  readonly replies: SharedArrayBuffer[];
  /** This thread's index: its reply ring and its job slots for nested calls (scheduler.ts). */
  readonly index: number;
  readonly maxThreads: number;
  readonly states: SharedArrayBuffer;
  /** The pool's export table (job-codec.ts). */
  readonly exports: SharedArrayBuffer;
  readonly idleTimeoutMs: number;
}

/** A thread leaving because it was idle exits with this code (it has already counted itself out). */
export const IDLE_EXIT_CODE = 75;

export type ThreadMessage =
  /** Thread → main: loaded, running its loop. */
  | { readonly type: 'ready'; readonly ticket?: undefined }
  /** Thread → main: send me the arguments of this side-path job. */
  | { readonly type: 'fetch'; readonly ticket: number }
  /** Main → thread: the side-path job (or `missing`: it was settled meanwhile). */
  | { readonly type: 'job'; readonly ticket: number; readonly url?: string; readonly exportName?: string; readonly args?: unknown[]; readonly missing?: boolean }
  /** Thread → main: a result too large for the completion ring, encoded (scheduler.ts). */
  | { readonly type: 'result'; readonly ticket: number; readonly bytes: Uint8Array }
  /** Thread → main: the arguments of a nested call that must go by message (main hands them to the thread that claims it). */
  | {
      readonly type: 'side';
      readonly ticket: number;
      readonly url: string;
      readonly exportName: string;
      readonly args: unknown[];
      readonly locals?: unknown;
      readonly transfer?: unknown[];
    }
  /** Thread → main: that nested call was cancelled before any thread claimed it. */
  | { readonly type: 'drop'; readonly ticket: number }
  /** Thread → main: it queued nested calls (the pool starts threads if it needs more). */
  | { readonly type: 'spawn'; readonly ticket?: undefined }
  /** Thread → main: terminate the thread running this nested call of mine (kill mode). */
  | { readonly type: 'kill'; readonly ticket: number }
  /** Thread → main: an error no call owns (a timer or a rejection left behind); the thread retires. */
  | { readonly type: 'stray'; readonly ticket?: undefined; readonly module: string; readonly text: string };
