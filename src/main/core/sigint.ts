/**
 * Ctrl-C for runs on the main thread.
 *
 * While at least one run is active, one SIGINT listener is installed; it is removed when the last
 * run settles, so nothing of triode stays installed. The first SIGINT cancels every active run
 * (each then rejects with `KeyboardInterrupt`). A second SIGINT while a run is still shutting
 * down (a shielded cleanup that takes long, say) is not swallowed: the listener steps aside and
 * the signal is raised again, so Node's default action (or the program's own listener) applies.
 *
 * The registry lives on `globalThis` so that the ESM and CJS builds share one listener.
 */
import { isMainThread } from 'node:worker_threads';

interface Interruptible {
  kiPending: boolean;
  keyboardInterrupt(): void;
}

interface SigintRegistry {
  runs: Set<Interruptible>;
  listener: (() => void) | undefined;
  /** Open `openSignalReceiver` blocks that take SIGINT: while any is open, Ctrl-C is theirs. */
  receivers: number;
}

const KEY = Symbol.for('triode.sigintRegistry');
const g = globalThis as typeof globalThis & { [KEY]?: SigintRegistry };
const registry: SigintRegistry = (g[KEY] ??= { runs: new Set(), listener: undefined, receivers: 0 });

export function signalReceiverOpened(): void {
  registry.receivers++;
}

export function signalReceiverClosed(): void {
  registry.receivers--;
}

function onSigint(): void {
  if (registry.receivers > 0) return; // a signal receiver for SIGINT is open: it gets Ctrl-C
  const runs = Array.from(registry.runs);
  if (runs.some((r) => r.kiPending)) {
    // Second Ctrl-C during shutdown: give the signal back to Node.
    uninstall();
    process.kill(process.pid, 'SIGINT');
    return;
  }
  for (const r of runs) r.keyboardInterrupt();
}

function uninstall(): void {
  if (registry.listener !== undefined) {
    process.off('SIGINT', registry.listener);
    registry.listener = undefined;
  }
}

export function registerRun(run: Interruptible): void {
  if (!isMainThread) return;
  registry.runs.add(run);
  if (registry.listener === undefined) {
    registry.listener = onSigint;
    process.on('SIGINT', onSigint);
  }
}

export function unregisterRun(run: Interruptible): void {
  registry.runs.delete(run);
  if (registry.runs.size === 0) uninstall();
}
