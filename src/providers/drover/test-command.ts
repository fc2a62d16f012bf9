/**
 * @module providers/drover/test-command — `drover.test`: runs a real command as a health gate.
 *
 * No shell unless `shell: true` (so arguments are never re-parsed). The command runs in its own process
 * group so a timeout or cancel kills what it started too. Non-zero exit, a signal or the timeout fail
 * the task with the tail of its output.
 */
import { spawn } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ProviderError } from '../types.ts';
import { durationSchema, parseDuration } from './duration.ts';
import { defineTask } from './task.ts';

const schema = z.strictObject({
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  cwd: z.string().optional(),
  timeout: durationSchema.optional(),
  env: z.record(z.string(), z.string()).optional(),
  shell: z.boolean().optional(),
});

const DEFAULT_TIMEOUT = '10m';
/** Enough of the output to see why a test failed, small enough to keep in state. */
const TAIL_BYTES = 4096;
/** After SIGTERM, how long a command may take to clean up before SIGKILL. */
const KILL_GRACE_MS = 2000;

class Tail {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.buf.length > TAIL_BYTES * 2) this.buf = this.buf.subarray(this.buf.length - TAIL_BYTES);
  }
  text(): string {
    return this.buf.subarray(Math.max(0, this.buf.length - TAIL_BYTES)).toString('utf8');
  }
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

export const droverTest = defineTask({
  type: 'drover.test',
  description: 'Runs a command (tests, smoke checks); a non-zero exit or timeout fails the rollout.',
  schema,
  run: (ctx, props) =>
    new Promise((resolvePromise, reject) => {
      const timeoutMs = parseDuration(props.timeout ?? DEFAULT_TIMEOUT);
      const cwd =
        props.cwd === undefined
          ? ctx.flockDir
          : isAbsolute(props.cwd)
            ? props.cwd
            : resolve(ctx.flockDir, props.cwd);
      const label = [props.command, ...(props.args ?? [])].join(' ');
      const tail = new Tail();
      const child = spawn(props.command, props.args ?? [], {
        cwd,
        env: { ...process.env, ...(props.env ?? {}) },
        shell: props.shell === true,
        detached: true, // its own process group, so we can kill the whole tree
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (c: Buffer) => tail.push(c));
      child.stderr.on('data', (c: Buffer) => tail.push(c));

      let why: 'timeout' | 'aborted' | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (reason: 'timeout' | 'aborted') => {
        if (why) return;
        why = reason;
        killGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      };
      const timer = setTimeout(() => stop('timeout'), timeoutMs);
      const onAbort = () => stop('aborted');
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      if (ctx.signal.aborted) onAbort();
      const cleanup = () => {
        clearTimeout(timer);
        if (killTimer) clearTimeout(killTimer);
        ctx.signal.removeEventListener('abort', onAbort);
      };

      child.on('error', (e) => {
        cleanup();
        reject(
          new ProviderError(`drover.test: cannot run ${label}: ${e.message}`, undefined, 'TEST_SPAWN_FAILED'),
        );
      });
      child.on('close', (code, signal) => {
        cleanup();
        // Anything the command left running in its group goes with it.
        killGroup(child.pid, 'SIGKILL');
        const out = tail.text();
        const shown = out ? `\n--- output (tail) ---\n${out}` : '';
        if (why === 'timeout') {
          return reject(
            new ProviderError(
              `drover.test: ${label} timed out after ${props.timeout ?? DEFAULT_TIMEOUT}${shown}`,
              undefined,
              'TEST_TIMEOUT',
            ),
          );
        }
        if (why === 'aborted')
          return reject(new ProviderError(`drover.test: ${label} cancelled${shown}`, undefined, 'ABORTED'));
        if (code !== 0) {
          const how = code === null ? `was killed by ${signal}` : `exited with ${code}`;
          return reject(new ProviderError(`drover.test: ${label} ${how}${shown}`, undefined, 'TEST_FAILED'));
        }
        ctx.log.info('drover.test passed', { command: label });
        resolvePromise({ exit_code: 0, output_tail: out.slice(-1024) });
      });
    }),
});
