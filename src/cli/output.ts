/**
 * @module cli/output — how the CLI reports errors and progress.
 *
 * Errors are always one `error CODE: message` line plus one line per problem (`file:line:col: message`),
 * never a stack trace (SPEC §9) — the stack is shown only with DROVER_DEBUG=1.
 */
import { DroverError, ErrorCodes, formatProblem, type ExitCode } from '../errors.ts';
import type { Action, EngineEvent, Plan } from '../engine/index.ts';
import type { CliIo, OutStream } from './io.ts';

/** An error answered by a Drover server, whose code this build may not know. */
export class RemoteError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** Exit code of a server error code: the registry's when known, else 1 (the operation failed). */
export function exitCodeOf(code: string): ExitCode {
  return code in ErrorCodes ? ErrorCodes[code as keyof typeof ErrorCodes].exit : 1;
}

/** Prints any thrown value the way the CLI promises, and returns the exit code for it. */
export function reportError(e: unknown, io: Pick<CliIo, 'stderr' | 'env'>): ExitCode {
  if (e instanceof DroverError) {
    io.stderr.write(`error ${e.code}: ${e.message}\n`);
    for (const p of e.problems) io.stderr.write(`  ${formatProblem(p)}\n`);
    debugStack(e, io);
    return e.exitCode;
  }
  if (e instanceof RemoteError) {
    io.stderr.write(`error ${e.code}: ${e.message}\n`);
    return e.exitCode;
  }
  const message = e instanceof Error ? e.message : String(e);
  io.stderr.write(`error INTERNAL: ${message}\n`);
  debugStack(e, io);
  return ErrorCodes.INTERNAL.exit;
}

function debugStack(e: unknown, io: Pick<CliIo, 'stderr' | 'env'>): void {
  if (io.env['DROVER_DEBUG'] === '1' && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
}

const VERB: Record<Action, string> = {
  create: 'creating',
  update: 'updating',
  replace: 'replacing',
  delete: 'deleting',
  'no-op': 'checking',
};

/** Number of operations of a plan that change something. */
export function changeCount(plan: Plan): number {
  return plan.operations.filter((o) => o.action !== 'no-op').length;
}

/**
 * Progress of an apply on stderr (stdout stays clean for `--json`). On a terminal: one line rewritten in
 * place (done/total and the operations in flight); otherwise one plain line per finished operation, which
 * reads well in CI logs.
 */
export class Progress {
  private done = 0;
  private readonly running = new Set<string>();
  private lineShown = false;

  constructor(
    private readonly out: OutStream,
    private readonly total: number,
  ) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  readonly onEvent = (e: EngineEvent): void => {
    switch (e.kind) {
      case 'refresh':
        if (this.tty) this.draw(`refreshing ${e.done}/${e.total}`);
        return;
      case 'op-start':
        if (e.action === 'no-op') return;
        this.running.add(`${VERB[e.action]} ${e.address}`);
        if (this.tty) this.draw(this.status());
        return;
      case 'op-done': {
        if (e.action === 'no-op') return;
        this.running.delete(`${VERB[e.action]} ${e.address}`);
        this.done += 1;
        const line = `${e.ok ? 'ok  ' : 'FAIL'} ${e.action} ${e.address}${e.error ? `: ${e.error}` : ''}`;
        if (this.tty) {
          // Failures stay on screen; successes are summarised by the counter.
          if (!e.ok) this.print(line);
          this.draw(this.status());
        } else {
          this.print(`[${this.done}/${this.total}] ${line}`);
        }
        return;
      }
      case 'retry':
        if (!this.tty)
          this.print(`retry ${e.address} (attempt ${e.attempt}, in ${e.delayMs} ms): ${e.error}`);
        return;
      case 'adopted':
        this.print(`adopted ${e.address} (${e.id}) left by an interrupted run`);
        return;
      case 'intent-cleared':
        this.print(`cleared the unfinished create of ${e.address} (nothing had been created)`);
        return;
      default: {
        const never: never = e;
        return never;
      }
    }
  };

  /** Prints a line above the progress line (used for questions and messages during an apply). */
  print(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
  }

  /** Removes the progress line; call before anything else writes to the terminal. */
  clear(): void {
    if (this.lineShown) {
      this.out.write('\r\x1b[2K');
      this.lineShown = false;
    }
  }

  private status(): string {
    const current = [...this.running].join(', ');
    return `[${this.done}/${this.total}] ${current || 'working…'}`;
  }

  private draw(text: string): void {
    const width = Math.max(20, (this.out.columns ?? 80) - 1);
    const shown = text.length > width ? `${text.slice(0, width - 1)}…` : text;
    this.out.write(`\r\x1b[2K${shown}`);
    this.lineShown = true;
  }
}
