/**
 * Subprocesses: `runProcess` (Trio's run_process) and `lowlevel.openProcess` with the `Process`
 * it returns.
 *
 * A child's pipes are `SocketStream`s (Node makes them `net.Socket`s), so `process.stdout` has
 * every stream guarantee: backpressure (a child writing faster than you read blocks on its full
 * pipe), cancelled receives losing nothing, `for await` over chunks.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import os from 'node:os';
import { BrokenResourceError, CalledProcessError, isCancellation, soleError } from '../../shared/errors.js';
import { CancelScope } from '../core/cancel-scope.js';
import { checkpoint, cancelPoint } from '../core/checkpoint.js';
import { currentContext } from '../core/context.js';
import { TASK_STATUS_IGNORED, openNursery, type TaskStatus } from '../core/nursery.js';
import { sleep } from '../core/sleep.js';
import { ParkingLot } from '../sync/parking-lot.js';
import { checkBoolean, checkDuration, checkFunction, checkOptions, describe } from '../core/validate.js';
import type { ReceiveStream, SendStream } from '../streams/abc.js';
import { SocketStream } from '../streams/socket-stream.js';
import { waitForEvent } from '../core/wait-event.js';

/** What to connect a child's stdin/stdout/stderr to. */
export type StdioMode = 'pipe' | 'inherit' | 'ignore';

export interface OpenProcessOptions {
  stdin?: StdioMode;
  stdout?: StdioMode;
  stderr?: StdioMode;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * POSIX: start the child in a process group of its own and send every signal to the whole
   * group, so no grandchild (a shell's background job) outlives a cancelled process. Default
   * true; false signals the child only. Ignored on Windows.
   */
  killGroup?: boolean;
}

const POSIX = globalThis.process.platform !== 'win32';

/** A running (or finished) child process. */
export class Process {
  /** The Node ChildProcess underneath. */
  readonly child: ChildProcess;
  /** The child's stdin when it is a pipe: `sendAll`, then `aclose()` to send EOF. */
  readonly stdin: SendStream | undefined;
  /** The child's stdout when it is a pipe. */
  readonly stdout: ReceiveStream | undefined;
  /** The child's stderr when it is a pipe. */
  readonly stderr: ReceiveStream | undefined;
  #returncode: number | undefined;
  readonly #exited = new ParkingLot();

  /** True when signals go to the child's whole process group. */
  readonly killGroup: boolean;

  /** @internal use openProcess */
  constructor(child: ChildProcess, readonly command: readonly string[], killGroup = false) {
    this.child = child;
    this.killGroup = killGroup;
    this.stdin = child.stdin ? new SocketStream(child.stdin as never) : undefined;
    this.stdout = child.stdout ? new SocketStream(child.stdout as never) : undefined;
    this.stderr = child.stderr ? new SocketStream(child.stderr as never) : undefined;
    child.on('error', () => {
      // A failed kill or a late pipe error: the exit (or its absence) tells the rest.
    });
    child.on('exit', (code, signal) => {
      this.#returncode = code ?? -(os.constants.signals[signal as NodeJS.Signals] ?? 0);
      this.#exited.unparkAll();
    });
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /** The exit code; minus the signal number when a signal killed it; undefined while running. */
  get returncode(): number | undefined {
    return this.#returncode;
  }

  /** `returncode` (undefined while the process runs). Not a checkpoint. */
  poll(): number | undefined {
    return this.#returncode;
  }

  /**
   * Waits for the process to exit and returns its `returncode`. A checkpoint; cancelling the
   * wait leaves the process running.
   */
  async wait(): Promise<number> {
    const ctx = currentContext('Process.wait');
    cancelPoint(ctx);
    if (this.#returncode === undefined) {
      await this.#exited.parkWait(ctx, `process ${this.pid} to exit`).promise;
    } else {
      await checkpoint();
    }
    return this.#returncode!;
  }

  /**
   * Sends `signal` (e.g. 'SIGHUP') unless the process has exited; to its whole process group
   * when `killGroup` (the default on POSIX). Not a checkpoint.
   */
  sendSignal(signal: NodeJS.Signals | number): void {
    if (this.#returncode !== undefined) return;
    if (this.killGroup && this.child.pid !== undefined) {
      try {
        globalThis.process.kill(-this.child.pid, signal);
        return;
      } catch {
        // The group is gone (ESRCH) or not ours: signal the child alone.
      }
    }
    this.child.kill(signal);
  }

  /** `sendSignal('SIGTERM')`. */
  terminate(): void {
    this.sendSignal('SIGTERM');
  }

  /** `sendSignal('SIGKILL')`. */
  kill(): void {
    this.sendSignal('SIGKILL');
  }

  /**
   * Closes the pipes and waits for the process to exit; if that wait is cancelled the process is
   * killed (and still waited for). A checkpoint.
   */
  async aclose(): Promise<void> {
    for (const pipe of [this.stdin, this.stdout, this.stderr]) await new CancelScope({ shield: true }).run(() => pipe?.aclose());
    try {
      await this.wait();
    } catch (error) {
      this.kill();
      await new CancelScope({ shield: true }).run(() => this.wait());
      throw error;
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.aclose();
  }
}

function checkCommand(where: string, command: unknown): string[] {
  if (!Array.isArray(command) || command.length === 0 || command.some((c) => typeof c !== 'string')) {
    throw new TypeError(`${where}: command must be a non-empty array of strings (program, ...args), got ${describe(command)}`);
  }
  return command as string[];
}

function checkStdio(where: string, name: string, mode: unknown): StdioMode {
  if (mode !== 'pipe' && mode !== 'inherit' && mode !== 'ignore') {
    throw new TypeError(`${where}: ${name} must be 'pipe', 'inherit' or 'ignore', got ${describe(mode)}`);
  }
  return mode;
}

/**
 * Starts `command` (`[program, ...args]`, no shell) and returns its `Process` once it has
 * spawned; nothing supervises it (use `runProcess` for that). stdio defaults to 'inherit'.
 * A checkpoint; raises the spawn error (ENOENT for a missing program).
 */
export async function openProcess(command: string[], options: OpenProcessOptions = {}): Promise<Process> {
  checkCommand('openProcess', command);
  checkOptions('openProcess', options);
  const stdio: StdioOptions = (['stdin', 'stdout', 'stderr'] as const).map((name) =>
    checkStdio('openProcess', name, options[name] ?? 'inherit'),
  );
  const killGroup = POSIX && checkBoolean('openProcess', 'options.killGroup', options.killGroup ?? true);
  currentContext('openProcess');
  await checkpoint();
  const child = spawn(command[0]!, command.slice(1), {
    stdio,
    // A new session, so the child leads a process group of its own (setsid).
    ...(killGroup ? { detached: true } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  });
  const process = new Process(child, command, killGroup);
  await new CancelScope({ shield: true }).run(() => waitForEvent(child, 'spawn', 'openProcess'));
  return process;
}

export interface RunProcessOptions {
  /** As `openProcess`'s: signal the child's whole process group (POSIX; default true). */
  killGroup?: boolean;
  /**
   * Bytes or text to feed to the child's stdin (then closed), or a mode. Default: nothing
   * ('ignore'), or 'pipe' under `nursery.start` (write to `process.stdin` yourself).
   */
  stdin?: Uint8Array | string | StdioMode;
  /** Collect stdout into the result (and into a CalledProcessError). */
  captureStdout?: boolean;
  /** Collect stderr into the result (and into a CalledProcessError). */
  captureStderr?: boolean;
  /** Where stdout goes when not captured. Default 'inherit'. */
  stdout?: StdioMode;
  /** Where stderr goes when not captured. Default 'inherit'. */
  stderr?: StdioMode;
  /** Captured output as a string with 'utf8'; a Uint8Array by default. */
  encoding?: 'utf8';
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Raise CalledProcessError for a non-zero returncode. Default true. */
  check?: boolean;
  /** How long to wait after SIGTERM before SIGKILL when cancelled. Default 5000 ms. */
  terminateGraceMs?: number;
  /** Replaces the SIGTERM, grace, SIGKILL sequence on cancellation. */
  deliverCancel?: (process: Process) => Promise<void> | void;
}

export interface CompletedProcess<Out = Uint8Array | string | undefined, Err = Out> {
  returncode: number;
  /** The captured stdout (undefined unless captureStdout). */
  stdout: Out;
  /** The captured stderr (undefined unless captureStderr). */
  stderr: Err;
  command: readonly string[];
}

/** Captured output's type: a string with `encoding: 'utf8'`, else bytes. */
type Captured<O> = O extends { encoding: 'utf8' } ? string : Uint8Array;
/** The result's type for options `O`: what is captured is there, in the form asked for. */
export type RunProcessResult<O> = CompletedProcess<
  O extends { captureStdout: true } ? Captured<O> : undefined,
  O extends { captureStderr: true } ? Captured<O> : undefined
>;

async function collect(stream: ReceiveStream, into: Uint8Array[]): Promise<void> {
  for await (const chunk of stream) into.push(chunk);
}

/** SIGTERM, wait up to `graceMs` for the exit, then SIGKILL. */
async function terminateThenKill(process: Process, graceMs: number): Promise<void> {
  process.terminate();
  await sleep(graceMs);
  process.kill();
}

/**
 * Runs `command` to completion and returns `{ returncode, stdout, stderr }`; with `check` (the
 * default) a non-zero returncode raises `CalledProcessError` carrying the captured output.
 *
 * Cancellation: the child gets SIGTERM, `terminateGraceMs` (5000) to exit, then SIGKILL; once it
 * has exited, `Cancelled` is raised. `deliverCancel(process)` replaces that sequence.
 *
 * Under `nursery.start` it resolves with the running `Process` (stdin a pipe by default), and
 * the task goes on supervising it: it waits for the exit, raises on a failure, and delivers
 * the cancellation when the nursery is cancelled.
 *
 * ```ts
 * const { stdout } = await runProcess(['git', 'rev-parse', 'HEAD'], { captureStdout: true, encoding: 'utf8' });
 * ```
 */
export function runProcess<const O extends RunProcessOptions>(command: string[], options: O): Promise<RunProcessResult<O>>;
export function runProcess(
  command: string[],
  options?: RunProcessOptions | TaskStatus<Process>,
  taskStatus?: TaskStatus<Process>,
): Promise<CompletedProcess>;
export async function runProcess(
  command: string[],
  options?: RunProcessOptions | TaskStatus<Process>,
  taskStatus?: TaskStatus<Process>,
): Promise<CompletedProcess> {
  // nursery.start(runProcess, command) puts the task status where the options go.
  if (typeof (options as TaskStatus | undefined)?.started === 'function') {
    taskStatus = options as TaskStatus<Process>;
    options = undefined;
  }
  const opts: RunProcessOptions = checkOptions('runProcess', options as RunProcessOptions | undefined);
  const status = taskStatus ?? (TASK_STATUS_IGNORED as TaskStatus<Process>);
  const started = status !== TASK_STATUS_IGNORED;
  checkCommand('runProcess', command);
  const grace = checkDuration('runProcess', 'terminateGraceMs', opts.terminateGraceMs ?? 5000);
  if (opts.deliverCancel !== undefined) checkFunction('runProcess', 'deliverCancel', opts.deliverCancel);
  const input = typeof opts.stdin === 'string' && !['pipe', 'inherit', 'ignore'].includes(opts.stdin)
    ? new TextEncoder().encode(opts.stdin)
    : opts.stdin instanceof Uint8Array ? opts.stdin : undefined;
  const stdinMode: StdioMode = input !== undefined ? 'pipe' : checkStdio('runProcess', 'stdin', opts.stdin ?? (started ? 'pipe' : 'ignore'));
  const stdoutMode = opts.captureStdout ? 'pipe' : checkStdio('runProcess', 'stdout', opts.stdout ?? 'inherit');
  const stderrMode = opts.captureStderr ? 'pipe' : checkStdio('runProcess', 'stderr', opts.stderr ?? 'inherit');

  const process = await openProcess(command, {
    stdin: stdinMode,
    stdout: stdoutMode,
    stderr: stderrMode,
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.killGroup !== undefined ? { killGroup: opts.killGroup } : {}),
  });
  const stdoutChunks: Uint8Array[] = [];
  const stderrChunks: Uint8Array[] = [];
  const deliverCancel = opts.deliverCancel ?? ((p: Process) => terminateThenKill(p, grace));
  try {
    await openNursery(async (nursery) => {
      if (input !== undefined) {
        nursery.startSoon(async () => {
          try {
            await process.stdin!.sendAll(input);
          } catch (error) {
            if (!(error instanceof BrokenResourceError)) throw error; // the child closed its stdin early
          } finally {
            await process.stdin!.aclose();
          }
        });
      }
      if (opts.captureStdout) nursery.startSoon(collect, process.stdout!, stdoutChunks);
      if (opts.captureStderr) nursery.startSoon(collect, process.stderr!, stderrChunks);
      status.started(process);
      try {
        await process.wait();
      } catch (error) {
        if (!isCancellation(error)) throw error;
        // Cancelled: make the child exit, shielded from the cancellation, then re-raise.
        await new CancelScope({ shield: true }).run(() =>
          openNursery(async (killer) => {
            killer.startSoon(async () => {
              await deliverCancel(process);
            });
            await process.wait();
            killer.cancelScope.cancel();
          }),
        );
        throw error;
      }
    });
  } catch (error) {
    // Errors of the supervising nursery: one alone is raised as itself.
    throw soleError(error);
  } finally {
    if (!started) for (const pipe of [process.stdin, process.stdout, process.stderr]) await new CancelScope({ shield: true }).run(() => pipe?.aclose());
  }
  const decode = (chunks: Uint8Array[], captured: boolean | undefined) => {
    if (!captured) return undefined;
    const bytes = Buffer.concat(chunks);
    return opts.encoding === 'utf8' ? bytes.toString('utf8') : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  };
  const result: CompletedProcess<Uint8Array | string | undefined> = {
    returncode: process.returncode!,
    stdout: decode(stdoutChunks, opts.captureStdout),
    stderr: decode(stderrChunks, opts.captureStderr),
    command,
  };
  if ((opts.check ?? true) && result.returncode !== 0) {
    throw new CalledProcessError(result.returncode, command, result.stdout, result.stderr);
  }
  return result;
}
