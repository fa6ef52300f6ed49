/** What every channel endpoint (memory or shared) offers around `close()`. */
import { checkpoint } from '../core/checkpoint.js';
import { checkFunction } from '../core/validate.js';

export abstract class Closeable {
  /** Closes this endpoint (idempotent, not a checkpoint). */
  abstract close(): void;

  /** Closes this endpoint, then checkpoints. */
  async aclose(): Promise<void> {
    this.close();
    await checkpoint();
  }

  /** Runs `fn(this)` and closes this endpoint when it ends (Trio's `async with channel`). */
  async use<R>(fn: (channel: this) => Promise<R> | R): Promise<R> {
    checkFunction(`${this.constructor.name}.use`, 'fn', fn);
    try {
      return await fn(this);
    } finally {
      this.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
