/**
 * Process plumbing for the leased-worker benchmarks (failover, scheduler, proxy): every child is started
 * in a process group of its own and remembered, so `killAll()` (in each benchmark's `finally`, and on
 * SIGINT / SIGTERM / exit of the benchmark itself) leaves nothing running — not a worker, its proxy, a
 * task process or nginx — even when the benchmark fails half-way.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureBuild } from './build-issue3.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Group {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the group leader exited. */
  readonly exited: Promise<void>;
  /** Signals the whole process group (no-op once it is gone). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL of the group after `graceMs`; resolves when the leader exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Group>();
const dirs = new Set<string>();

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* the group is gone */
  }
}

/** Spawns `cmd args` as the leader of a new process group (detached), tracked for killAll(). */
export function spawnGroup(
  name: string,
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions = {},
): Group {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    ...opts,
    detached: true,
  });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const g: Group = {
    name,
    child,
    pid,
    exited,
    signal: (sig) => signalGroup(pid, sig),
    async stop(graceMs = 3_000) {
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Whatever else is left in the group (task processes, a proxy that ignored SIGTERM).
      signalGroup(pid, 'SIGKILL');
      live.delete(g);
    },
  };
  live.add(g);
  void exited.then(() => {
    // The leader is gone; its group may still hold children: they go too.
    signalGroup(pid, 'SIGKILL');
  });
  return g;
}

/** SIGKILLs every group still tracked and removes every temp dir made by tempDir(). */
export async function killAll(): Promise<void> {
  const groups = [...live];
  for (const g of groups) g.signal('SIGKILL');
  await Promise.race([Promise.all(groups.map((g) => g.exited)), sleep(5_000)]);
  live.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

/** Synchronous last resort when the benchmark process itself is told to stop or exits abnormally. */
function killAllSync(): void {
  for (const g of live) g.signal('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.once('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

/** A temp directory removed by killAll(). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

/** Polls fn until it returns a truthy value; throws `timed out waiting for WHAT` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** One JSON call to the Drover API (or the simulator), never throwing for an HTTP status; 10 s deadline. */
export async function api<T = unknown>(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T };
}

export interface WorkerProcessOptions {
  readonly serverUrl: string;
  readonly token: string;
  readonly name: string;
  readonly capacity?: number;
  /** Simulator URL and credentials (the proxy signs with them; tasks see only the URL). */
  readonly simUrl?: string;
  readonly simKeys?: Readonly<Record<string, string>>;
  /** Worker stderr (JSON logs): 'ignore' by default — benchmarks print figures, not logs. */
  readonly stderr?: 'inherit' | 'ignore';
}

/**
 * `drover worker` (src/worker/main.ts, compiled) as the leader of its own process group: the worker, its signing
 * proxy (a child in the same group) and, through their lifelines, its task processes.
 */
export function startWorkerProcess(o: WorkerProcessOptions): Group {
  const work = tempDir(`drover-bench-${o.name}-`);
  // The compiled build (bench/lib/build-issue3.ts): the worker, its proxy and its task processes run as
  // JavaScript, as in production.
  const args = [
    join(ensureBuild('bench'), 'worker', 'main.js'),
    '--server',
    o.serverUrl,
    '--name',
    o.name,
    '--work-dir',
    work,
  ];
  if (o.capacity) args.push('--capacity', String(o.capacity));
  if (process.env['BENCH_SANDBOX']) args.push('--sandbox', process.env['BENCH_SANDBOX']);
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '/',
    DROVER_TOKEN: o.token,
    ...(o.simUrl ? { DROVER_SIM_URL: o.simUrl } : {}),
    ...o.simKeys,
  };
  if (process.env['TMPDIR']) env['TMPDIR'] = process.env['TMPDIR'];
  return spawnGroup(`worker ${o.name}`, process.execPath, args, {
    env,
    stdio: ['ignore', 'ignore', o.stderr ?? 'ignore'],
  });
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
