/**
 * @module worker/worker — the worker daemon (SPEC.md §5): starts its signing proxy, registers and
 * heartbeats THROUGH it (so the proxy sees every heartbeat and its signed ack), long-polls for
 * assignments, and reconciles its task processes with them.
 *
 * What it deliberately does not do: it never kills a task because the server is unreachable. Its lease
 * is the proxy's business — the proxy refuses the task's calls once the lease is not valid — so a worker
 * cut off from the scheduler keeps heartbeating (retrying) and keeps its tasks, and they continue the
 * moment a heartbeat is acknowledged again (or are killed when the answer no longer assigns them).
 *
 * Task lifecycle on this worker:  starting → running ⇄ paused → exited
 *   starting: staging directory written, proxy endpoint opened, process spawned.
 *   running / paused: SIGSTOP / SIGCONT of its process group on control pause / run.
 *   exited: on its own (it reported its completion: exit 0 or 1), or stopped by us — SIGKILL when it is
 *   no longer assigned (or its token moved on), SIGTERM then SIGKILL on cancel, SIGKILL on kill.
 *   A (task, token) that exited here is never started again here.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DroverError, toDroverError } from '../errors.ts';
import {
  assignmentsPrint,
  type Assignment,
  type Control,
  type HeartbeatResponse,
  type PollResponse,
} from '../scheduler/protocol.ts';
import type { Credentials } from '../signing/index.ts';
import { controlRequest, startProxyProcess, type ControlAnswer, type ProxyProcess } from './proxy-process.ts';
import { probeSandbox, spawnTask, stageInputs, type SandboxMode } from './sandbox.ts';

export interface WorkerOptions {
  readonly serverUrl: string;
  readonly token: string;
  /** Default `${hostname}-${pid}`. */
  readonly name?: string;
  /** At most this many tasks at once (default 1). */
  readonly capacity?: number;
  /** Given to the proxy only (null: calls to services go out unsigned). */
  readonly credentials?: Credentials | null;
  /** Where staging directories and the proxy's sockets live (default: a fresh temp dir, removed at stop). */
  readonly workDir?: string;
  readonly sandbox?: SandboxMode;
  /** Long-poll wait (default 20 s). */
  readonly pollWaitMs?: number;
  /** SIGTERM → SIGKILL grace on cancel (default 5 s). */
  readonly cancelGraceMs?: number;
  /** Keep each task's staging directory after it exits (debugging, tests). */
  readonly keepStaging?: boolean;
  /** Non-secret environment for tasks (e.g. DROVER_SIM_URL for `${env.DROVER_SIM_URL}`). */
  readonly taskEnv?: Readonly<Record<string, string>>;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

type TaskPhase = 'starting' | 'running' | 'paused' | 'exited';

interface TaskRun {
  readonly taskId: string;
  readonly token: number;
  phase: TaskPhase;
  child: ChildProcess | null;
  /** Why we stopped it (then its exit is not reported as a failure). */
  stopping: 'unassigned' | 'superseded' | 'cancel' | 'kill' | 'shutdown' | null;
  /** The control to apply once the process exists. */
  wanted: Control;
  endpointDir: string | null;
  readonly staging: string;
  readonly exited: Promise<void>;
  markExited: () => void;
}

interface Registration {
  readonly worker_id: string;
  readonly heartbeat_ms: number;
  readonly lease_ttl_ms: number;
}

function defaultLog(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, component: 'worker', pid: process.pid, msg, ...fields })}\n`,
  );
}

const key = (taskId: string, token: number): string => `${taskId}:${token}`;

export class Worker {
  readonly name: string;
  private readonly opts: WorkerOptions;
  private readonly log: NonNullable<WorkerOptions['log']>;
  private readonly capacity: number;
  private readonly workDir: string;
  private readonly ownsWorkDir: boolean;
  private readonly sandbox: 'bwrap' | 'none';
  private proxy: ProxyProcess | null = null;
  private reg: Registration | null = null;
  private registering: Promise<Registration> | null = null;
  private seq = 0;
  private readonly runs = new Map<string, TaskRun>();
  private readonly finished = new Set<string>();
  /** Assignments of the latest answer that found no free slot; started when one frees (see finish). */
  private readonly deferred = new Map<string, Assignment>();
  /**
   * (task, token)s whose process exited because its lease was not valid (exit 3 / 4): it could not
   * report, so the task is not over. Started again here when an acknowledged heartbeat still assigns
   * that same token to us (the lease is ours again); otherwise the scheduler moves it on.
   */
  private readonly lapsed = new Set<string>();
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatsInFlight = 0;
  private pollLoop: Promise<void> | null = null;
  /** assignmentsPrint of the last poll answer, sent with the next poll (`known`). */
  private lastPolled = '';
  private lastUnreachableLog = 0;

  constructor(opts: WorkerOptions) {
    this.opts = opts;
    this.log = opts.log ?? defaultLog;
    this.name = opts.name ?? `${os.hostname()}-${process.pid}`;
    this.capacity = opts.capacity ?? 1;
    if (!Number.isInteger(this.capacity) || this.capacity < 1)
      throw new DroverError('USAGE', '--capacity must be a positive integer');
    this.ownsWorkDir = opts.workDir === undefined;
    this.workDir = opts.workDir ?? mkdtempSync(path.join(os.tmpdir(), 'drover-worker-'));
    const mode = opts.sandbox ?? 'auto';
    if (mode === 'none') this.sandbox = 'none';
    else {
      const probe = probeSandbox();
      if (!probe.bwrap && mode === 'bwrap') throw new DroverError('USAGE', `--sandbox bwrap: ${probe.why}`);
      this.sandbox = probe.bwrap ? 'bwrap' : 'none';
      // Logged once per worker: tasks still reach the world only through the proxy's socket, but
      // nothing stops them from opening other connections.
      if (!probe.bwrap)
        this.log(
          'warn',
          'sandbox limited: tasks run without network isolation (the proxy is their only signed path out)',
          { why: probe.why },
        );
    }
  }

  /** The proxy's pid (for `drover workers`) once started. */
  get proxyPid(): number | null {
    return this.proxy?.pid ?? null;
  }

  get workerId(): string | null {
    return this.reg?.worker_id ?? null;
  }

  /** Task ids running here now. */
  taskIds(): string[] {
    return [...this.runs.values()].filter((r) => r.phase !== 'exited').map((r) => r.taskId);
  }

  async start(): Promise<void> {
    mkdirSync(path.join(this.workDir, 'tasks'), { recursive: true, mode: 0o700 });
    this.proxy = await startProxyProcess({
      server_url: this.opts.serverUrl,
      token: this.opts.token,
      credentials: this.opts.credentials ?? null,
      dir: path.join(this.workDir, 'proxy'),
    });
    this.proxy.child.once('exit', (code, signal) => {
      if (!this.stopped)
        this.log('error', 'the signing proxy exited: no task call can leave until the worker restarts', {
          code,
          signal,
        });
    });
    this.log('info', 'started', {
      name: this.name,
      capacity: this.capacity,
      sandbox: this.sandbox,
      proxy_pid: this.proxy.pid,
      server: this.opts.serverUrl,
    });
    await this.register();
    this.scheduleHeartbeat(0);
    this.pollLoop = this.poll();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    for (const run of this.runs.values()) this.killRun(run, 'shutdown');
    await Promise.all([...this.runs.values()].map((r) => r.exited));
    await this.proxy?.stop();
    await this.pollLoop?.catch(() => undefined);
    if (this.ownsWorkDir) rmSync(this.workDir, { recursive: true, force: true });
    this.log('info', 'stopped', { name: this.name });
  }

  // ---- talking to the server, through the proxy ---------------------------------------------------

  private control(
    method: string,
    p: string,
    body?: unknown,
    opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<ControlAnswer> {
    if (!this.proxy) throw new DroverError('INTERNAL', 'worker not started');
    return controlRequest(this.proxy.controlSocket, method, p, body, opts);
  }

  /** Registers (retrying until the server answers); concurrent callers share one attempt. */
  private register(): Promise<Registration> {
    this.registering ??= (async () => {
      for (let attempt = 0; ; attempt++) {
        if (this.stopped) throw new DroverError('INTERNAL', 'stopped');
        try {
          const res = await this.control('POST', '/api/v1/workers/register', {
            name: this.name,
            host: os.hostname(),
            pid: process.pid,
            capacity: this.capacity,
          });
          if (res.status >= 200 && res.status < 300) {
            const reg = res.body as Registration;
            this.reg = reg;
            this.seq = 0;
            this.lastPolled = '';
            this.log('info', 'registered', {
              worker_id: reg.worker_id,
              heartbeat_ms: reg.heartbeat_ms,
              lease_ttl_ms: reg.lease_ttl_ms,
            });
            return reg;
          }
          if (res.status === 401 || res.status === 403) {
            throw new DroverError('UNAUTHORIZED', `the server refused the worker token (${res.status})`);
          }
          this.log('warn', 'register failed; retrying', { status: res.status, body: res.body });
        } catch (e) {
          if (e instanceof DroverError && e.code === 'UNAUTHORIZED') throw e;
          this.logUnreachable('register', e);
        }
        await sleep(Math.min(5_000, 250 * 2 ** Math.min(attempt, 5)));
      }
    })().finally(() => {
      this.registering = null;
    });
    return this.registering;
  }

  private scheduleHeartbeat(delayMs: number): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => {
      const every = this.reg?.heartbeat_ms ?? 2_000;
      this.scheduleHeartbeat(every);
      // A slow answer must not delay the next heartbeat (it would delay the renewal), but do not pile up.
      if (this.heartbeatsInFlight < 3) void this.heartbeat();
    }, delayMs);
  }

  private async heartbeat(): Promise<void> {
    const reg = this.reg;
    if (!reg || this.stopped) return;
    this.seq += 1;
    const seq = this.seq;
    const tasks = this.taskIds();
    this.heartbeatsInFlight += 1;
    try {
      const res = await this.control(
        'POST',
        `/api/v1/workers/${encodeURIComponent(reg.worker_id)}/heartbeat`,
        { seq, tasks },
        { timeoutMs: reg.lease_ttl_ms },
      );
      if (this.stopped || this.reg !== reg) return;
      if (res.status === 404) {
        // The scheduler forgot us (gone, or a different database): register again; the proxy starts a
        // fresh lease, and the next answer tells us what is still ours.
        this.log('warn', 'the server does not know this worker: registering again');
        this.reg = null;
        await this.register();
        return;
      }
      if (res.status < 200 || res.status >= 300) {
        this.logUnreachable(
          'heartbeat',
          new Error(`answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`),
        );
        return;
      }
      const answer = res.body as HeartbeatResponse & { proxy?: { ack?: string } };
      if (answer.proxy?.ack !== 'accepted')
        this.log('warn', 'heartbeat answered but the proxy did not accept the ack', {
          seq,
          ack: answer.proxy?.ack,
        });
      this.reconcile(answer.assignments ?? [], new Set(tasks), answer.proxy?.ack === 'accepted');
    } catch (e) {
      this.logUnreachable('heartbeat', e);
    } finally {
      this.heartbeatsInFlight -= 1;
    }
  }

  private async poll(): Promise<void> {
    const wait = this.opts.pollWaitMs ?? 20_000;
    while (!this.stopped) {
      const reg = this.reg ?? (await this.register().catch(() => null));
      if (!reg || this.stopped) {
        await sleep(500);
        continue;
      }
      try {
        const res = await this.control(
          'GET',
          `/api/v1/workers/${encodeURIComponent(reg.worker_id)}/poll?wait_ms=${wait}&known=${encodeURIComponent(this.lastPolled)}`,
          undefined,
          { timeoutMs: wait + 20_000 },
        );
        if (this.stopped) return;
        if (res.status === 200) {
          // A poll answer only adds: what to stop is decided on heartbeat answers, which name what we sent.
          const assignments = (res.body as PollResponse).assignments ?? [];
          this.lastPolled = assignmentsPrint(assignments);
          this.reconcile(assignments, null);
          continue;
        }
        if (res.status === 404 && this.reg === reg) {
          this.reg = null;
          await this.register().catch(() => null);
          continue;
        }
        this.logUnreachable('poll', new Error(`answered ${res.status}`));
      } catch (e) {
        this.logUnreachable('poll', e);
      }
      await sleep(1_000);
    }
  }

  private logUnreachable(what: string, e: unknown): void {
    const now = Date.now();
    if (now - this.lastUnreachableLog < 5_000) return;
    this.lastUnreachableLog = now;
    this.log(
      'warn',
      `${what} failed; retrying (tasks keep running; the proxy stops their calls if the lease lapses)`,
      { error: toDroverError(e).message },
    );
  }

  // ---- reconciliation ------------------------------------------------------------------------------

  /**
   * `named`: the task ids the heartbeat being answered named (null for a poll answer). Only a task we
   * named and that the answer no longer assigns is killed — a task started after that heartbeat left is
   * not judged by an answer that could not know it.
   */
  private reconcile(
    assignments: readonly Assignment[],
    named: ReadonlySet<string> | null,
    leaseAcked = false,
  ): void {
    if (this.stopped) return;
    const assigned = new Map<string, Assignment>();
    for (const a of assignments) assigned.set(a.task_id, a);
    for (const run of this.runs.values()) {
      if (run.phase === 'exited' || run.stopping) continue;
      const a = assigned.get(run.taskId);
      if (!a) {
        if (named?.has(run.taskId)) {
          this.log('warn', 'task no longer assigned here: killing it', {
            task_id: run.taskId,
            token: run.token,
          });
          this.killRun(run, 'unassigned');
        }
        continue;
      }
      if (a.token !== run.token) {
        this.log('warn', 'task reassigned with a new token: killing the old process', {
          task_id: run.taskId,
          old: run.token,
          new: a.token,
        });
        this.killRun(run, 'superseded');
        continue;
      }
      this.applyControl(run, a.control);
    }
    // The newest answer decides what waits for a slot.
    this.deferred.clear();
    this.startAssigned(assigned.values(), leaseAcked);
  }

  /** Starts the assignments not running here yet, within capacity; the rest wait in `deferred`. */
  private startAssigned(assignments: Iterable<Assignment>, leaseAcked: boolean): void {
    for (const a of assignments) {
      const current = this.runs.get(a.task_id);
      if (current && current.phase !== 'exited') continue;
      if (this.finished.has(key(a.task_id, a.token))) continue;
      if (this.lapsed.has(key(a.task_id, a.token))) {
        // Only on an acknowledged heartbeat: a poll answer says nothing about the lease.
        if (!leaseAcked) continue;
        this.lapsed.delete(key(a.task_id, a.token));
        this.log('warn', 'task lost its lease here and is still assigned here: starting it again', {
          task_id: a.task_id,
          token: a.token,
        });
      }
      if (a.control === 'cancel' || a.control === 'kill') continue;
      if (this.taskIds().length >= this.capacity) {
        // Usually the answer came before the exit of the task it replaces was seen here: it starts as
        // soon as a slot frees (finish), not with the next heartbeat answer.
        this.deferred.set(a.task_id, a);
        this.log('info', 'assignment waits for a free slot', { task_id: a.task_id, capacity: this.capacity });
        continue;
      }
      this.startRun(a);
    }
  }

  private applyControl(run: TaskRun, control: Control): void {
    run.wanted = control;
    if (!run.child) return; // applied once spawned
    switch (control) {
      case 'run':
        if (run.phase === 'paused') {
          this.signal(run, 'SIGCONT');
          run.phase = 'running';
          this.log('info', 'task resumed', { task_id: run.taskId });
        }
        return;
      case 'pause':
        if (run.phase === 'running') {
          this.signal(run, 'SIGSTOP');
          run.phase = 'paused';
          this.log('info', 'task paused', { task_id: run.taskId });
        }
        return;
      case 'cancel': {
        run.stopping = 'cancel';
        // A stopped process cannot handle SIGTERM: continue it first.
        if (run.phase === 'paused') this.signal(run, 'SIGCONT');
        this.signal(run, 'SIGTERM');
        const timer = setTimeout(() => this.signal(run, 'SIGKILL'), this.opts.cancelGraceMs ?? 5_000);
        timer.unref();
        void run.exited.then(() => clearTimeout(timer));
        this.log('info', 'task cancelled', { task_id: run.taskId });
        return;
      }
      case 'kill':
        this.killRun(run, 'kill');
        return;
      default: {
        const never: never = control;
        throw new DroverError('INTERNAL', `unknown control ${String(never)}`);
      }
    }
  }

  private killRun(run: TaskRun, why: NonNullable<TaskRun['stopping']>): void {
    if (run.phase === 'exited') return;
    run.stopping ??= why;
    this.signal(run, 'SIGKILL');
  }

  /** Signals the task's whole process group (it is the group leader: spawned detached). */
  private signal(run: TaskRun, sig: NodeJS.Signals): void {
    const pid = run.child?.pid;
    if (pid === undefined || run.phase === 'exited') return;
    try {
      process.kill(-pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH')
        this.log('warn', 'signal failed', { task_id: run.taskId, sig, error: (e as Error).message });
    }
  }

  private startRun(a: Assignment): void {
    const staging = path.join(this.workDir, 'tasks', `${safeName(a.task_id)}-${a.token}`);
    let markExited = (): void => undefined;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const run: TaskRun = {
      taskId: a.task_id,
      token: a.token,
      phase: 'starting',
      child: null,
      stopping: null,
      wanted: a.control,
      endpointDir: null,
      staging,
      exited,
      markExited,
    };
    this.runs.set(a.task_id, run);
    this.log('info', 'starting task', { task_id: a.task_id, token: a.token, kind: a.kind });
    this.launch(run, a).catch((e: unknown) => {
      this.log('error', 'could not start task', { task_id: a.task_id, error: toDroverError(e).message });
      void this.finish(run, null, null, `could not start: ${toDroverError(e).message}`);
    });
  }

  private async launch(run: TaskRun, a: Assignment): Promise<void> {
    if (a.kind === 'noop') return this.runNoop(run);
    const spec = (a.spec ?? {}) as { flock?: { files?: Record<string, string> } };
    rmSync(run.staging, { recursive: true, force: true });
    mkdirSync(run.staging, { recursive: true, mode: 0o700 });
    stageInputs(run.staging, spec.flock?.files);
    const opened = await this.control('POST', '/_proxy/tasks', {
      task_id: run.taskId,
      token: run.token,
      transport: 'unix',
    });
    if (opened.status !== 201)
      throw new DroverError('INTERNAL', `the proxy refused a task endpoint: ${JSON.stringify(opened.body)}`);
    const ep = opened.body as { socket: string; socket_dir: string };
    run.endpointDir = ep.socket_dir;
    // The proxy lets a task's calls out only once an acknowledged heartbeat lists the task; a poll answer
    // alone does not. Without this, a task started from a poll answer races the next heartbeat: its spec
    // fetch is refused (not-covered), it exits 4 and is never started again here, stuck as assigned.
    await this.heartbeat();
    if (run.stopping || this.stopped) {
      await this.finish(run, null, null, 'stopped before start');
      return;
    }
    const child = spawnTask({
      taskId: run.taskId,
      token: run.token,
      staging: run.staging,
      stagingRoot: path.join(this.workDir, 'tasks'),
      proxySocket: ep.socket,
      proxySocketDir: ep.socket_dir,
      proxyDir: path.join(this.workDir, 'proxy'),
      serverUrl: this.opts.serverUrl,
      sandbox: this.sandbox,
      extraEnv: { ...this.opts.taskEnv, DROVER_TASK_KIND: a.kind },
    });
    run.child = child;
    run.phase = 'running';
    const prefix = (stream: NodeJS.ReadableStream): void => {
      stream.on('data', (c: Buffer) => {
        for (const line of c.toString('utf8').split('\n'))
          if (line) process.stderr.write(`[task ${run.taskId}] ${line}\n`);
      });
    };
    if (child.stdout) prefix(child.stdout);
    if (child.stderr) prefix(child.stderr);
    child.stdin?.on('error', () => undefined);
    child.once('error', (e) => void this.finish(run, null, null, `spawn failed: ${e.message}`));
    child.once('exit', (code, sig) => void this.finish(run, code, sig, null));
    if (run.wanted !== 'run') this.applyControl(run, run.wanted);
  }

  /**
   * `noop`: nothing to run, so no process, staging or task endpoint. It is still taken up under an
   * acknowledged lease (the heartbeat names it) and reported through the fence, lease-gated by the
   * proxy like any task's completion: exit code 0 when the report was taken, 3 when it was refused.
   */
  private async runNoop(run: TaskRun): Promise<void> {
    run.phase = 'running';
    await this.heartbeat();
    if (run.stopping || this.stopped) return this.finish(run, null, null, 'stopped before start');
    const res = await this.control(
      'POST',
      `/api/v1/tasks/${encodeURIComponent(run.taskId)}/complete`,
      { status: 'succeeded', result: {} },
      { headers: { 'drover-fence': key(run.taskId, run.token) } },
    ).catch((e: unknown) => {
      this.logUnreachable('noop completion', e);
      return null;
    });
    const taken = res !== null && res.status >= 200 && res.status < 300;
    await this.finish(run, taken ? 0 : 3, null, null);
  }

  private async finish(
    run: TaskRun,
    code: number | null,
    sig: NodeJS.Signals | null,
    problem: string | null,
  ): Promise<void> {
    if (run.phase === 'exited') return;
    run.phase = 'exited';
    this.finished.add(key(run.taskId, run.token));
    // 3 / 4: its lease was not valid, so it could not report; the task is not over (see `lapsed`). It
    // becomes startable again only below, once this run's proxy endpoint and staging directory are gone.
    const lapsed = (code === 3 || code === 4) && !run.stopping && !this.stopped;
    if (this.runs.get(run.taskId) === run) this.runs.delete(run.taskId);
    if (this.deferred.size && !this.stopped) {
      const waiting = [...this.deferred.values()];
      this.deferred.clear();
      this.startAssigned(waiting, false);
    }
    this.log('info', 'task exited', {
      task_id: run.taskId,
      token: run.token,
      code,
      signal: sig,
      stopping: run.stopping,
    });
    try {
      if (run.endpointDir !== null && !this.stopped) {
        await this.control(
          'DELETE',
          `/_proxy/tasks/${encodeURIComponent(run.taskId)}?token=${run.token}`,
        ).catch(() => undefined);
      }
      // 0 / 1: it reported itself. 3 / 4: its lease was not valid (the task lives on elsewhere). Stopped by
      // us: the scheduler asked. Anything else (a crash, an OOM kill) is reported as a failure here.
      const reported = code === 0 || code === 1 || code === 3 || code === 4;
      if (!run.stopping && !reported && !this.stopped) {
        const error = {
          code: 'INTERNAL',
          message: problem ?? `the task process ended unexpectedly (code ${code}, signal ${sig})`,
        };
        await this.control(
          'POST',
          `/api/v1/tasks/${encodeURIComponent(run.taskId)}/complete`,
          { status: 'failed', error },
          { headers: { 'drover-fence': key(run.taskId, run.token) } },
        ).catch(() => undefined);
      }
    } finally {
      if (!this.opts.keepStaging) rmSync(run.staging, { recursive: true, force: true });
      if (lapsed) {
        this.finished.delete(key(run.taskId, run.token));
        this.lapsed.add(key(run.taskId, run.token));
      }
      run.markExited();
    }
  }
}

function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
