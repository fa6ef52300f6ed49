/**
 * `dumpTaskTree()`: the run's tasks, nurseries and cancel scopes as an indented tree, for
 * debugging hangs ("what is everyone waiting for?").
 */
import type { CancelStatus } from './cancel-status.js';
import { CancelScope } from './cancel-scope.js';
import { currentContext } from './context.js';
import type { Task, TaskNursery } from './task.js';

function scopeLine(status: CancelStatus, now: number): string {
  const owner = status.owner;
  const parts = [owner.describe()];
  if (owner instanceof CancelScope) {
    if (owner.deadline !== Infinity) parts.push(`deadline in ${formatMs(owner.deadline - now)}`);
    if (owner.shield) parts.push('shielded');
  }
  if (owner.cancelCalled) parts.push('cancelled');
  else if (status.effectivelyCancelled) parts.push('cancelled from outside');
  return parts.join(', ');
}

function formatMs(ms: number): string {
  return `${Math.round(ms * 1000) / 1000} ms`;
}

/** The scopes between `inner` (exclusive of nothing) and `outer` (exclusive), innermost first. */
function scopesBetween(inner: CancelStatus, outer: CancelStatus | undefined): CancelStatus[] {
  const chain: CancelStatus[] = [];
  for (let s: CancelStatus | undefined = inner; s !== undefined && s !== outer; s = s.parent) chain.push(s);
  return chain;
}

/**
 * Returns the current run's task tree: every task with what it is blocked in (or "running"),
 * the nurseries it has open, and the cancel scopes around its wait with their deadlines and
 * cancel state. A task waiting for a worker call says whether the call is queued or running, and
 * on which thread. Not a checkpoint.
 */
export function dumpTaskTree(): string {
  const runner = currentContext('dumpTaskTree').task.runner;
  const now = runner.clock.currentTime();
  const lines: string[] = [];
  const visitTask = (task: Task, depth: number, nurseryStatus: CancelStatus | undefined): void => {
    const pad = '  '.repeat(depth);
    const detail = task.wait?.detail?.describe();
    const state = task.wait !== undefined ? `blocked in ${task.wait.what}${detail !== undefined ? ` (${detail})` : ''}` : 'running';
    lines.push(`${pad}task ${task.name}#${task.id}: ${state}`);
    if (task.wait !== undefined) {
      for (const s of scopesBetween(task.wait.status, nurseryStatus)) {
        lines.push(`${pad}  scope: ${scopeLine(s, now)}`);
      }
    }
    for (const nursery of task.childNurseries) visitNursery(nursery, depth + 1);
  };
  const visitNursery = (nursery: TaskNursery, depth: number): void => {
    const pad = '  '.repeat(depth);
    const children = nursery.childTasks;
    lines.push(`${pad}nursery (${scopeLine(nursery.status, now)}): ${children.length} task(s)`);
    for (const child of children) visitTask(child, depth + 1, nursery.status);
  };
  visitTask(runner.rootTask, 0, undefined);
  return lines.join('\n');
}
