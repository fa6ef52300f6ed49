/** Detects two tasks using one resource at once — one side of a stream, a signal receiver (Trio's ConflictDetector). */
import { BusyResourceError } from '../../shared/errors.js';

export class ConflictDetector {
  private held = false;

  constructor(private readonly message: string) {}

  /** Marks the side in use, or raises `BusyResourceError` when another call holds it. */
  enter(): void {
    if (this.held) throw new BusyResourceError(this.message);
    this.held = true;
  }

  exit(): void {
    this.held = false;
  }

  /** Runs `fn` holding the side. */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await fn();
    } finally {
      this.held = false;
    }
  }
}
