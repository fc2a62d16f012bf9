/**
 * @module worker/task-main — one task, in its own process (and sandbox). It holds no credentials: its only
 * way out is its proxy socket (DROVER_PROXY), through which it loads its spec, streams events, runs its
 * kind, and reports completion — all fenced and lease-gated by the proxy.
 *
 * Exit codes, read by the worker: 0 completed (succeeded), 1 completed (failed), 3 could not report
 * (the completion was refused, e.g. LEASE_EXPIRED, or the lease lapsed mid-run), 4 could not load its spec.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { toDroverError } from '../errors.ts';
import type { HttpClient } from '../providers/types.ts';
import type { TaskSpecResponse } from '../scheduler/protocol.ts';
import { ProxyHttpClient } from './task-client.ts';

/** Kinds a task may have: the scheduler's, plus test kinds. */
export type RunnableKind = 'plan' | 'apply' | 'destroy' | 'noop' | 'sim-calls' | 'probe';
const ENGINE_KINDS: ReadonlySet<string> = new Set(['plan', 'apply', 'destroy']);

export interface TaskContext {
  readonly taskId: string;
  readonly token: number;
  readonly http: HttpClient;
  readonly staging: string;
  readonly signal: AbortSignal;
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Batches events and posts them to the server through the proxy (best effort: logs are not the result). */
class EventStream {
  private buffer: unknown[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly http: HttpClient,
    private readonly taskId: string,
    private readonly token: number,
  ) {}

  push(event: Record<string, unknown>): void {
    this.buffer.push({ at: new Date().toISOString(), ...event });
    process.stderr.write(`${JSON.stringify({ task: this.taskId, ...event })}\n`);
    this.timer ??= setTimeout(() => void this.flush(), 300);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const events = this.buffer;
    this.buffer = [];
    if (events.length === 0) return this.flushing;
    this.flushing = this.flushing.then(async () => {
      try {
        await this.http.request({
          method: 'POST',
          url: `/api/v1/tasks/${encodeURIComponent(this.taskId)}/events`,
          body: { token: this.token, events },
        });
      } catch {
        /* refused or unreachable: the completion (or its absence) is what counts */
      }
    });
    return this.flushing;
  }
}

async function runKind(kind: string, spec: Record<string, unknown>, ctx: TaskContext): Promise<unknown> {
  switch (kind as RunnableKind) {
    case 'noop':
      return {};
    case 'sim-calls':
      return simCalls(spec, ctx);
    case 'probe':
      return probe(spec, ctx);
    case 'plan':
    case 'apply':
    case 'destroy': {
      const { runEngineTask } = await import('./engine-task.ts');
      return runEngineTask(kind as 'plan' | 'apply' | 'destroy', spec, ctx);
    }
    default:
      throw new Error(`unknown task kind "${kind}"`);
  }
}

/**
 * Test and benchmark kind: `count` mutating calls to the simulator (bucket creates), `delay_ms` apart,
 * every one through the proxy. Spec: { url, count?, delay_ms?, region?, prefix? }.
 */
async function simCalls(spec: Record<string, unknown>, ctx: TaskContext): Promise<unknown> {
  const base = String(spec['url'] ?? '');
  const count = Number(spec['count'] ?? 1);
  const delay = Number(spec['delay_ms'] ?? 0);
  const region = String(spec['region'] ?? 'sim-1');
  const prefix = String(spec['prefix'] ?? `t-${ctx.taskId}`);
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    if (ctx.signal.aborted) throw new Error('cancelled');
    const name = `${prefix}-${i}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 60);
    const res = await ctx.http.request({
      method: 'POST',
      url: `${base}/regions/${region}/buckets`,
      headers: { 'idempotency-key': `${ctx.taskId}-${i}` },
      body: { name },
    });
    statuses.push(res.status);
    ctx.log('call', { i, status: res.status });
    if (res.status >= 400)
      throw new Error(`call ${i} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    if (delay > 0 && i < count - 1) await new Promise((r) => setTimeout(r, delay));
  }
  return { calls: statuses.length, statuses };
}

/**
 * Test kind: writes outputs/probe.json with the task's whole environment, whether `direct_url` can be
 * reached without the proxy, and what `via_proxy_url` answers through it.
 */
async function probe(spec: Record<string, unknown>, ctx: TaskContext): Promise<unknown> {
  const out: Record<string, unknown> = { env: { ...process.env }, pid: process.pid };
  const direct = typeof spec['direct_url'] === 'string' ? new URL(spec['direct_url']) : null;
  if (direct) {
    out['direct'] = await new Promise<string>((resolve) => {
      const s = net.connect({ host: direct.hostname, port: Number(direct.port) });
      s.setTimeout(2_000, () => {
        s.destroy();
        resolve('timeout');
      });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(`error:${e.code ?? e.message}`));
    });
  }
  if (typeof spec['via_proxy_url'] === 'string') {
    const res = await ctx.http.request({ method: 'GET', url: spec['via_proxy_url'] });
    out['via_proxy'] = res.status;
  }
  writeFileSync(path.join(ctx.staging, 'outputs', 'probe.json'), JSON.stringify(out, null, 2));
  return { direct: out['direct'] ?? null, via_proxy: out['via_proxy'] ?? null, env: out['env'] };
}

export async function runTaskMain(): Promise<number> {
  const taskId = process.env['DROVER_TASK_ID'];
  const socketPath = process.env['DROVER_PROXY'];
  const serverUrl = process.env['DROVER_SERVER'] ?? 'http://127.0.0.1:7800';
  const staging = process.env['DROVER_STAGING'] ?? process.cwd();
  if (!taskId || !socketPath) {
    process.stderr.write('task-main: DROVER_TASK_ID and DROVER_PROXY must be set (started by a worker)\n');
    return 4;
  }
  const http = new ProxyHttpClient({ socketPath, serverUrl });
  // The worker names the kind it started (a hint only: the spec decides). For the engine's kinds, its
  // modules (the bulk of a task process's start) load while the spec is on its way.
  if (ENGINE_KINDS.has(process.env['DROVER_TASK_KIND'] ?? ''))
    import('./engine-task.ts').catch(() => undefined);
  const abort = new AbortController();
  process.on('SIGTERM', () => {
    abort.abort(new Error('cancelled (SIGTERM)'));
    // Give in-flight work a moment to notice; the worker SIGKILLs after its grace anyway.
    setTimeout(() => process.exit(143), 2_000).unref();
  });
  // The worker's lifeline: stdin closes when the worker dies. Then nothing of ours should keep running.
  process.stdin.on('end', () => process.exit(137));
  process.stdin.on('error', () => process.exit(137));
  process.stdin.resume();

  let specRes;
  try {
    specRes = await http.request({ method: 'GET', url: `/api/v1/tasks/${encodeURIComponent(taskId)}/spec` });
  } catch (e) {
    process.stderr.write(`task-main: could not load the spec: ${toDroverError(e).message}\n`);
    return 4;
  }
  if (specRes.status !== 200) {
    process.stderr.write(
      `task-main: spec answered ${specRes.status}: ${JSON.stringify(specRes.body).slice(0, 300)}\n`,
    );
    return 4;
  }
  const task = specRes.body as TaskSpecResponse & { kind: string };
  const events = new EventStream(http, taskId, task.token);
  const ctx: TaskContext = {
    taskId,
    token: task.token,
    http,
    staging,
    signal: abort.signal,
    log: (msg, fields) => events.push({ type: 'log', message: msg, ...fields }),
  };
  events.push({ type: 'status', status: 'running', kind: task.kind });
  let status: 'succeeded' | 'failed';
  let body: Record<string, unknown>;
  try {
    const result = await runKind(task.kind, (task.spec ?? {}) as unknown as Record<string, unknown>, ctx);
    status = 'succeeded';
    body = { status, result };
  } catch (e) {
    const err = toDroverError(e);
    if (http.leaseLost) {
      // The run failed because its lease lapsed mid-way: that is not the task's outcome. Exit 3 (could not
      // report): the worker starts it again if the task is still its own, else it lives on elsewhere.
      process.stderr.write(`task-main: the lease lapsed during the run; not reporting: ${err.message}\n`);
      await events.flush();
      return 3;
    }
    status = 'failed';
    body = {
      status,
      error: {
        code: err.code,
        message: err.message,
        ...(Object.keys(err.details).length ? { details: err.details } : {}),
      },
    };
    events.push({ type: 'log', level: 'error', message: err.message, code: err.code });
  }
  events.push({ type: 'status', status });
  await events.flush();
  try {
    const res = await http.request({
      method: 'POST',
      url: `/api/v1/tasks/${encodeURIComponent(taskId)}/complete`,
      body,
    });
    if (res.status < 200 || res.status >= 300) {
      process.stderr.write(
        `task-main: completion answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}\n`,
      );
      return 3;
    }
  } catch (e) {
    process.stderr.write(`task-main: completion refused: ${toDroverError(e).message}\n`);
    return 3;
  }
  return status === 'succeeded' ? 0 : 1;
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  runTaskMain().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`task-main: ${toDroverError(e).message}\n`);
      process.exit(1);
    },
  );
}
