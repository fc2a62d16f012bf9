/**
 * @module worker/sandbox — how a task process is started (SPEC.md §5 "Sandbox"): its own staging
 * directory, an environment with no credentials (a whitelist, never a copy of the worker's), and — where
 * bubblewrap works on this host — no network at all except its own proxy socket.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DroverError } from '../errors.ts';
import { nodeArgsFor } from './launch.ts';

/** The project's root (src/worker → ../..; the same from dist/worker): what a task's process runs. */
const CODE_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** auto: bubblewrap when it works here, else none (logged once). */
export type SandboxMode = 'auto' | 'bwrap' | 'none';

export interface SandboxProbe {
  readonly bwrap: boolean;
  readonly why?: string;
}

let probed: SandboxProbe | null = null;

/**
 * The isolation every task gets, and exactly what the probe tries: a read-only view of the host, no
 * network (the only way out is the proxy's unix socket, bound in per task), no view of other processes
 * (the worker's /proc/PID/environ holds the keys), a private /tmp, and the code the task runs brought
 * back read-only (a checkout may itself live under /tmp).
 */
function isolation(): string[] {
  return [
    '--die-with-parent',
    '--unshare-net',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    CODE_ROOT,
    CODE_ROOT,
  ];
}

/** Tries bubblewrap once per process with the very flags tasks get; cached. */
export function probeSandbox(): SandboxProbe {
  if (probed) return probed;
  const r = spawnSync('bwrap', [...isolation(), 'true'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
  });
  if (r.error)
    probed = {
      bwrap: false,
      why: `bwrap not usable: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`,
    };
  else if (r.status !== 0)
    probed = { bwrap: false, why: `bwrap failed here: ${r.stderr.toString('utf8').trim().slice(0, 200)}` };
  else probed = { bwrap: true };
  return probed;
}

export interface TaskLaunch {
  readonly taskId: string;
  readonly token: number;
  /** This task's staging directory (its HOME and working directory). */
  readonly staging: string;
  /** The directory of all staging directories (hidden from the task, except its own). */
  readonly stagingRoot: string;
  /** The task's own proxy socket and its directory. */
  readonly proxySocket: string;
  readonly proxySocketDir: string;
  /** The proxy's private directory (control socket, other tasks' sockets): hidden from the task. */
  readonly proxyDir: string;
  readonly serverUrl: string;
  readonly sandbox: 'bwrap' | 'none';
  /** Test hook: extra environment entries (never credentials). */
  readonly extraEnv?: Readonly<Record<string, string>>;
}

/**
 * The whole environment of a task: nothing inherited but PATH. No token, no simulator keys, no
 * NODE_OPTIONS of the worker (it could load anything). The server URL is not a secret.
 */
export function taskEnvironment(l: TaskLaunch): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: l.staging,
    TMPDIR: path.join(l.staging, 'tmp'),
    DROVER_TASK_ID: l.taskId,
    DROVER_PROXY: l.proxySocket,
    DROVER_SERVER: l.serverUrl,
    DROVER_STAGING: l.staging,
    ...l.extraEnv,
  };
}

/** Writes the spec's flock files under staging/inputs/flock; refuses paths that would leave it. */
export function stageInputs(staging: string, files: Readonly<Record<string, string>> | undefined): string {
  const flockDir = path.join(staging, 'inputs', 'flock');
  mkdirSync(flockDir, { recursive: true });
  mkdirSync(path.join(staging, 'outputs'), { recursive: true });
  mkdirSync(path.join(staging, 'tmp'), { recursive: true });
  for (const [name, content] of Object.entries(files ?? {})) {
    const dest = path.resolve(flockDir, name);
    if (path.isAbsolute(name) || !dest.startsWith(flockDir + path.sep)) {
      throw new DroverError(
        'VALIDATION',
        `task spec: flock file name "${name}" leaves the staging directory`,
      );
    }
    mkdirSync(path.dirname(dest), { recursive: true });
    writeFileSync(dest, content, { mode: 0o600 });
  }
  return flockDir;
}

/**
 * Starts task-main.ts for one task, as the leader of its own process group (so pause / cancel / kill reach
 * everything it started). stdin is a pipe the task watches: when the worker dies, it closes, and the task
 * exits (bubblewrap's --die-with-parent does the same inside the sandbox).
 */
export function spawnTask(l: TaskLaunch): ChildProcess {
  const node = [process.execPath, ...nodeArgsFor(import.meta.url, './task-main.ts')];
  const env = taskEnvironment(l);
  if (l.sandbox === 'none') {
    return spawn(node[0] as string, node.slice(1), {
      cwd: l.staging,
      env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }
  const args = [
    ...isolation(),
    // Hide the proxy's control socket and other tasks' sockets, and other tasks' staging directories…
    '--tmpfs',
    l.proxyDir,
    '--tmpfs',
    l.stagingRoot,
    // …then bring back only this task's own.
    '--bind',
    l.proxySocketDir,
    l.proxySocketDir,
    '--bind',
    l.staging,
    l.staging,
    '--chdir',
    l.staging,
    '--',
    ...node,
  ];
  return spawn('bwrap', args, { cwd: l.staging, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
}
