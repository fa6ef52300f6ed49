/**
 * The run's deadlines: one binary min-heap on the run's clock.
 *
 * Cancel scopes with a deadline and sleeping tasks register an entry; the runner arms one Node
 * timer for the earliest live entry (see `runner.ts`). Removal is lazy: a removed entry is marked
 * dead and dropped when it reaches the top, and the heap is rebuilt when dead entries outnumber
 * live ones, so scopes that exit long before their deadline (the common case for timeouts) cost
 * O(log n) and leave no garbage behind.
 */

export interface DeadlineOwner {
  /** Called once when the entry's deadline has passed on the run's clock. */
  deadlineExpired(): void;
}

export class DeadlineEntry {
  live = true;
  constructor(
    readonly deadline: number,
    readonly seq: number,
    readonly owner: DeadlineOwner,
  ) {}
}

function before(a: DeadlineEntry, b: DeadlineEntry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}

export class Deadlines {
  private heap: DeadlineEntry[] = [];
  private dead = 0;
  private seq = 0;

  get size(): number {
    return this.heap.length - this.dead;
  }

  add(deadline: number, owner: DeadlineOwner): DeadlineEntry {
    const entry = new DeadlineEntry(deadline, this.seq++, owner);
    this.heap.push(entry);
    this.siftUp(this.heap.length - 1);
    return entry;
  }

  remove(entry: DeadlineEntry): void {
    if (!entry.live) return;
    entry.live = false;
    this.dead++;
    if (this.dead > 64 && this.dead > this.heap.length / 2) this.compact();
  }

  /** The earliest live deadline, or Infinity. */
  next(): number {
    this.dropDeadTop();
    return this.heap.length === 0 ? Infinity : this.heap[0]!.deadline;
  }

  /** Removes and returns the owners of every live entry due at `now`, earliest first. */
  popExpired(now: number): DeadlineOwner[] {
    const due: DeadlineOwner[] = [];
    for (;;) {
      this.dropDeadTop();
      const top = this.heap[0];
      if (top === undefined || top.deadline > now) return due;
      this.popTop();
      top.live = false;
      due.push(top.owner);
    }
  }

  private dropDeadTop(): void {
    while (this.heap.length > 0 && !this.heap[0]!.live) {
      this.popTop();
      this.dead--;
    }
  }

  private popTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
  }

  private compact(): void {
    this.heap = this.heap.filter((e) => e.live);
    this.dead = 0;
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap[child + 1]!, heap[child]!)) child++;
      if (!before(heap[child]!, entry)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = entry;
  }
}
