/**
 * The cancel status tree.
 *
 * Every entered cancel scope owns one status node whose parent is the status that was current
 * when the scope was entered (for a nursery's children: the nursery's own status). A node is
 * effectively cancelled when its scope was cancelled, or when its parent is effectively cancelled
 * and its scope is not shielded:
 *
 *     effectivelyCancelled = cancelCalled || (parent.effectivelyCancelled && !shield)
 *
 * The flag is cached on every node and recomputed top-down whenever a scope is cancelled or its
 * shield changes, so a checkpoint reads one boolean. When a node becomes effectively cancelled it
 * aborts the waits blocked directly under it (see `traps.ts`), and its AbortSignal, if anyone
 * asked for one, fires.
 *
 * Tasks do not need to be registered here: the status a piece of code runs under travels with it
 * in AsyncLocalStorage (`context.ts`); only blocked waits are, because cancellation has to find
 * and wake them.
 */
import { createCancelled, type Cancelled } from '../../shared/errors.js';

/** What a status needs of a wait blocked under it (traps.ts's Wait), to abort it on cancel. */
export interface StatusWait {
  prevInStatus: StatusWait | undefined;
  nextInStatus: StatusWait | undefined;
  attemptAbort(): void;
}

/** What a status needs to know of its scope (implemented by `CancelScope`). */
export interface StatusOwner {
  readonly cancelCalled: boolean;
  readonly shield: boolean;
  readonly cancelReason: string | undefined;
  /** A name for dumps and error messages. */
  describe(): string;
}

export class CancelStatus {
  effectivelyCancelled = false;
  /** Set when the owning scope's body has finished; code still running under it is a bug. */
  exited = false;
  children: Set<CancelStatus> | undefined;
  /** Waits blocked directly under this node: an intrusive doubly-linked list through the waits. */
  private firstWait: StatusWait | undefined;
  private controller: AbortController | undefined;

  constructor(
    readonly owner: StatusOwner,
    public parent: CancelStatus | undefined,
  ) {
    if (parent !== undefined) {
      (parent.children ??= new Set()).add(this);
    }
    this.effectivelyCancelled = this.computeEffective();
  }

  private computeEffective(): boolean {
    return (
      this.owner.cancelCalled ||
      (this.parent !== undefined && this.parent.effectivelyCancelled && !this.owner.shield)
    );
  }

  /** Recompute after a cancel or shield change here; propagates to the subtree and delivers. */
  recalculate(): void {
    const now = this.computeEffective();
    if (now === this.effectivelyCancelled) return;
    this.effectivelyCancelled = now;
    if (now) {
      this.deliverCancel();
    } else {
      // A shield went up: an already-aborted signal cannot be un-aborted, so the next
      // `currentAbortSignal()` here gets a fresh one.
      this.controller = undefined;
    }
    if (this.children !== undefined) {
      for (const child of this.children) child.recalculate();
    }
  }

  /** Moves this node under another parent (used when `nursery.start` reparents a task). */
  reparent(parent: CancelStatus): void {
    this.parent?.children?.delete(this);
    this.parent = parent;
    (parent.children ??= new Set()).add(this);
    this.recalculate();
  }

  /**
   * The scope's body has finished. An AbortSignal handed out under this node aborts now if it has
   * not yet: whatever still listens to it (an operation left running, a `{ signal }` listener)
   * belongs to a block that is over, so its listeners do not outlive it.
   */
  detach(): void {
    this.exited = true;
    this.parent?.children?.delete(this);
    const controller = this.controller;
    if (controller !== undefined && !controller.signal.aborted) {
      controller.abort(createCancelled(`the block of ${this.owner.describe()} has exited`, false));
    }
  }

  private deliverCancel(): void {
    this.controller?.abort(this.makeCancelled(false));
    // Aborting a wait unlinks it; collect first.
    const waits: StatusWait[] = [];
    for (let w = this.firstWait; w !== undefined; w = w.nextInStatus) waits.push(w);
    for (const wait of waits) wait.attemptAbort();
  }

  /** The scope whose cancellation this node sees: itself, or the nearest unshielded ancestor. */
  cancelSource(): StatusOwner {
    let status: CancelStatus | undefined = this;
    while (status !== undefined) {
      if (status.owner.cancelCalled) return status.owner;
      if (status.owner.shield) break;
      status = status.parent;
    }
    return this.owner;
  }

  /**
   * A `Cancelled` for code under this node. `withStack: false` skips capturing a stack: a
   * Cancelled delivered to a blocked wait would only show the canceller's stack, which says
   * nothing about the cancelled task, and capturing it costs more than the rest of the delivery.
   */
  makeCancelled(withStack = true): Cancelled {
    const reason = this.cancelSource().cancelReason;
    return createCancelled(reason, withStack);
  }

  /** An AbortSignal that aborts when this node becomes effectively cancelled. */
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.effectivelyCancelled) this.controller.abort(this.makeCancelled());
    }
    return this.controller.signal;
  }

  addWait(wait: StatusWait): void {
    wait.prevInStatus = undefined;
    wait.nextInStatus = this.firstWait;
    if (this.firstWait !== undefined) this.firstWait.prevInStatus = wait;
    this.firstWait = wait;
  }

  removeWait(wait: StatusWait): void {
    const { prevInStatus: prev, nextInStatus: next } = wait;
    if (prev !== undefined) prev.nextInStatus = next;
    else if (this.firstWait === wait) this.firstWait = next;
    else return; // not linked here
    if (next !== undefined) next.prevInStatus = prev;
    wait.prevInStatus = wait.nextInStatus = undefined;
  }
}
