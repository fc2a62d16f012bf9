/**
 * @module cli/api-client — the small HTTP client the CLI uses to act through a Drover server
 * (`--server URL`): submit a task, follow its status and logs, list workers (SPEC §8 HTTP API).
 */
import type { TaskSpec, TaskStatus } from '../scheduler/protocol.ts';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DroverError } from '../errors.ts';
import { RemoteError, exitCodeOf } from './output.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:7800';

/** The wire shapes are the scheduler's (src/scheduler/protocol.ts): one definition for both ends. */
export type { TaskKind, TaskStatus } from '../scheduler/protocol.ts';
/** The body of POST /api/v1/tasks: a task spec. */
export type CreateTaskBody = TaskSpec;

export interface TaskView {
  readonly task_id?: string;
  readonly status: TaskStatus;
  readonly result?: unknown;
  readonly error?: { readonly code: string; readonly message: string } | null;
}

export interface WorkerView {
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  readonly proxy_pid: number | null;
  readonly status: 'healthy' | 'unhealthy' | 'gone';
  readonly capacity: number;
  readonly tasks: readonly string[];
  readonly lease_expires_at: string | null;
}

export interface ServerFlags {
  readonly server?: string;
  readonly token?: string;
}

/** `--server`, else DROVER_SERVER, else http://127.0.0.1:7800; `--token`, else DROVER_TOKEN. */
export function resolveServer(
  flags: ServerFlags,
  env: Readonly<Record<string, string | undefined>>,
): { server: string; token?: string } {
  const server = flags.server ?? env['DROVER_SERVER'] ?? DEFAULT_SERVER;
  try {
    const u = new URL(server);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new DroverError('USAGE', `--server '${server}' is not an http(s) URL`);
  }
  const token = flags.token ?? env['DROVER_TOKEN'];
  return { server: server.replace(/\/+$/, ''), ...(token ? { token } : {}) };
}

/** The flock's YAML files by name, as the server wants them (more *.yaml files may add resources, SPEC §2). */
export async function readFlockFiles(dir: string): Promise<Record<string, string>> {
  const abs = resolve(dir);
  let names: string[];
  try {
    names = (await readdir(abs)).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (e) {
    throw new DroverError('CONFIG_NOT_FOUND', `cannot read flock directory ${abs}: ${(e as Error).message}`);
  }
  const files: Record<string, string> = {};
  for (const n of names) files[n] = await readFile(join(abs, n), 'utf8');
  return files;
}

const TERMINAL: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export class ApiClient {
  constructor(
    private readonly server: string,
    private readonly token?: string,
  ) {}

  /** One JSON call; `{error:{code,message}}` answers become RemoteError/DroverError with the server's code. */
  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${this.server}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new DroverError(
        'SERVER_UNREACHABLE',
        `cannot reach the Drover server at ${this.server}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
      );
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (err && typeof err.code === 'string') {
        throw new RemoteError(
          err.code,
          typeof err.message === 'string' ? err.message : `HTTP ${res.status}`,
          exitCodeOf(err.code),
        );
      }
      throw new RemoteError(
        `HTTP_${res.status}`,
        `${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`,
        1,
      );
    }
    if (parsed === undefined)
      throw new RemoteError('BAD_RESPONSE', `${method} ${path} did not answer JSON`, 1);
    return parsed as T;
  }

  createTask(body: CreateTaskBody): Promise<{ task_id: string }> {
    return this.call('POST', '/api/v1/tasks', body);
  }

  getTask(id: string): Promise<TaskView> {
    return this.call('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
  }

  taskLogs(id: string, after: number): Promise<{ lines: readonly unknown[]; next: number }> {
    return this.call('GET', `/api/v1/tasks/${encodeURIComponent(id)}/logs?after=${after}`);
  }

  async workers(): Promise<WorkerView[]> {
    const body = await this.call<WorkerView[] | { workers: WorkerView[] }>('GET', '/api/v1/workers');
    return Array.isArray(body) ? body : body.workers;
  }

  /**
   * Follows a task to its end, handing each new log line to onLog. Resolves with the result of a
   * succeeded task; a failed task throws its error (with the server's code, so exit codes carry over).
   */
  async waitTask(
    id: string,
    opts: { onLog?: (line: string) => void; pollMs?: number; onStatus?: (s: TaskStatus) => void } = {},
  ): Promise<unknown> {
    let after = 0;
    let last: TaskStatus | undefined;
    for (;;) {
      const task = await this.getTask(id);
      // Drain logs after reading the status, so a finished task's last lines are all shown.
      for (;;) {
        const logs = await this.taskLogs(id, after);
        for (const l of logs.lines) {
          const line = logLine(l);
          if (line !== undefined) opts.onLog?.(line);
        }
        if (logs.next === after || logs.lines.length === 0) break;
        after = logs.next;
      }
      if (task.status !== last) opts.onStatus?.(task.status);
      last = task.status;
      if (TERMINAL.has(task.status)) {
        switch (task.status) {
          case 'succeeded':
            return task.result;
          case 'failed': {
            const code = task.error?.code ?? 'APPLY_FAILED';
            throw new RemoteError(code, task.error?.message ?? `task ${id} failed`, exitCodeOf(code));
          }
          case 'cancelled':
            throw new DroverError('TASK_CANCELLED', `task ${id} was cancelled`);
          default:
            break;
        }
      }
      await sleep(opts.pollMs ?? 500);
    }
  }
}

/**
 * One task log event as a line for people, or undefined for events shown otherwise (status changes are
 * reported by waitTask's onStatus; refresh counters would only flood a log).
 */
export function logLine(l: unknown): string | undefined {
  if (typeof l === 'string') return l;
  if (!l || typeof l !== 'object') return JSON.stringify(l);
  const o = l as Record<string, unknown>;
  if (o['type'] === 'status') return undefined;
  const event = o['event'];
  if (event && typeof event === 'object') return engineEventLine(event as Record<string, unknown>);
  const msg = o['message'] ?? o['msg'] ?? o['line'];
  if (typeof msg === 'string') {
    const level = typeof o['level'] === 'string' && o['level'] !== 'info' ? `${o['level']}: ` : '';
    const code = typeof o['code'] === 'string' ? `${o['code']}: ` : '';
    return `${level}${code}${msg}`;
  }
  return JSON.stringify(l);
}

function engineEventLine(e: Record<string, unknown>): string | undefined {
  const address = String(e['address'] ?? '');
  switch (e['kind']) {
    case 'refresh':
      return undefined;
    case 'op-start':
      return e['action'] === 'no-op' ? undefined : `start ${String(e['action'])} ${address}`;
    case 'op-done':
      if (e['action'] === 'no-op') return undefined;
      return `${e['ok'] ? 'ok  ' : 'FAIL'} ${String(e['action'])} ${address}${typeof e['error'] === 'string' ? `: ${e['error']}` : ''}`;
    case 'retry':
      return `retry ${address} (attempt ${String(e['attempt'])}): ${String(e['error'])}`;
    case 'adopted':
      return `adopted ${address} (${String(e['id'])}) left by an interrupted run`;
    case 'intent-cleared':
      return `cleared the unfinished create of ${address}`;
    default:
      return JSON.stringify(e);
  }
}
