/**
 * @module scheduler/scheduler — the regional scheduler (SPEC.md §5): registration, heartbeats and lease
 * acknowledgements, assignment, expiry and reassignment, control, and the fence every task call passes.
 *
 * Lease state machine of one worker, as the scheduler sees it (times are RECEIPT times on the database
 * clock; T = last heartbeat received):
 *
 *   register ──▶ healthy ──(no heartbeat by T + lease_ttl)──▶ unhealthy ──(T + lease_ttl + lease_grace)──▶
 *                 ▲   │                                          │         its tasks: reassigned (queued,
 *                 │   └── heartbeat: T := now, ack lists its ◀───┘         token + 1 on the next assignment)
 *                 │       tasks with their current tokens        │         or cancelled / failed (reassign.ts)
 *                 └──────────────── heartbeat ◀──────────────────┘
 *   unhealthy for goneAfter (no tasks left) or deregistered ──▶ gone (heartbeats answer WORKER_UNKNOWN)
 *
 * A task is only ever assigned to a healthy worker with a lease valid at that instant, and only taken
 * from one whose lease expired lease_grace ago; the worker's proxy stops its calls at (send time of the
 * last acknowledged heartbeat + lease_ttl − margin) ≤ T + lease_ttl − margin. So the old worker's last
 * call has drained (upstream timeout < lease_grace) before the new one starts (see timing.ts).
 *
 * Every decision is one SQL transaction with row locks (sql/*.ts), so any number of server processes
 * may share one PostgreSQL and all run the sweeps. Assignment changes are announced in-process at once;
 * long polls also re-check every sweep interval to see changes other processes made.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { DroverError } from '../errors.ts';
import type { Logger } from '../providers/types.ts';
import { isConnectionError } from '../store/connection-error.ts';
import { groupCommit, type GroupWriter } from '../store/group-commit.ts';
import type { Db, Queryable } from '../store/types.ts';
import {
  assignmentsPrint,
  parseFence,
  signAck,
  type Assignment,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type LeaseAck,
  type PollResponse,
  type RegisterRequest,
  type RegisterResponse,
  type Role,
  type TaskSpec,
} from './protocol.ts';
import type { Timing } from './timing.ts';
import { claimOne, type Claimed, type ClaimResult } from './sql/claim.ts';
import { completeThroughFence, touchWorker } from './sql/complete.ts';
import { controlTask, type ControlAction } from './sql/control.ts';
import { expireLeases } from './sql/expire.ts';
import { lockTaskForFence, markRunning, type FencedTask } from './sql/fence.ts';
import { reassignExpired } from './sql/reassign.ts';
import { insertWorker, markWorkerGone } from './sql/register.ts';
import { renewAllLeases, renewLease } from './sql/renew.ts';
import type { TaskRow, WorkerRow } from './sql/rows.ts';
import { getWorker, insertTasks, pollView, type NewTask, type PollView } from './sql/tasks.ts';

/** Who is calling (from the bearer token). */
export interface Caller {
  readonly tokenId: string;
  readonly name: string;
  readonly role: Role;
}

export interface SchedulerOptions {
  readonly db: Db;
  readonly timing: Timing;
  readonly log?: Logger;
  /** Assignments a task may lose to dead workers before it fails instead (default 5). */
  readonly maxAttempts?: number;
  /**
   * Called after every change that must be audited (the api layer records it in the same transaction).
   * Submission, heartbeats and completions are one statement each and write their rows to
   * `drover_audit` themselves, in that statement, when this is given (the same rows the api layer
   * writes: actor, action, object, details).
   */
  readonly audit?: (
    tx: Queryable,
    actor: string,
    action: string,
    object: string,
    details?: unknown,
  ) => Promise<void>;
}

const SILENT: Logger = { info() {}, warn() {}, error() {} };

/** Claims an assignment pass keeps in flight (see assignNow). */
const CLAIMS_IN_FLIGHT = 2;

export function toAssignment(t: Pick<TaskRow, 'id' | 'token' | 'kind' | 'spec' | 'control'>): Assignment {
  return { task_id: t.id, token: t.token, kind: t.kind, spec: t.spec, control: t.control };
}

/*
 * Names of the flock.yaml texts seen last, by the text's SHA-256. A team submits the same flock for
 * every target and release, and parsing its YAML was the largest part of a submission's CPU on the
 * server's event loop (~0.3 ms of ~0.5). Only valid names are kept; at most FLOCK_NAMES entries.
 */
const FLOCK_NAMES = 256;
const flockNames = new Map<string, string>();

/** The flock name from the submitted files (the `flock:` key of flock.yaml). */
export function flockNameOf(files: Readonly<Record<string, string>>): string {
  const text = files['flock.yaml'];
  if (typeof text !== 'string') {
    throw new DroverError('CONFIG_NOT_FOUND', 'the submitted flock has no flock.yaml');
  }
  const digest = createHash('sha256').update(text).digest('base64');
  const known = flockNames.get(digest);
  if (known !== undefined) return known;
  const name = parseFlockName(text);
  if (flockNames.size >= FLOCK_NAMES) flockNames.delete(flockNames.keys().next().value!);
  flockNames.set(digest, name);
  return name;
}

function parseFlockName(text: string): string {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new DroverError('CONFIG_INVALID', `flock.yaml: ${(e as Error).message}`);
  }
  const name = doc && typeof doc === 'object' ? (doc as Record<string, unknown>)['flock'] : undefined;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
    throw new DroverError(
      'CONFIG_INVALID',
      'flock.yaml: `flock` must be a name matching [a-z][a-z0-9-]{0,62}',
    );
  }
  return name;
}

/** The `Drover-Fence` of a call for `taskId`, parsed; STALE_FENCE when missing, malformed or another task's. */
function checkFence(taskId: string, header: string | undefined): { taskId: string; token: number } {
  const fence = parseFence(header);
  if (!fence)
    throw new DroverError('STALE_FENCE', 'missing or malformed Drover-Fence (TASK_ID:TOKEN)', {
      details: { task: taskId },
    });
  if (fence.taskId !== taskId) {
    throw new DroverError('STALE_FENCE', `Drover-Fence names task ${fence.taskId}, not ${taskId}`, {
      details: { task: taskId },
    });
  }
  return fence;
}

/** The error of a fenced call the task's current assignment does not allow. */
function fenceRefusal(
  taskId: string,
  why: 'stale' | 'not-yours' | 'lease-expired',
  details: { task: string; token: number; current: number; status: string },
): DroverError {
  switch (why) {
    case 'stale':
      return new DroverError(
        'STALE_FENCE',
        `task ${taskId}: token ${details.token} is not its current assignment`,
        {
          details,
        },
      );
    case 'not-yours':
      return new DroverError('STALE_FENCE', `task ${taskId} is not assigned to this worker`, { details });
    case 'lease-expired':
      return new DroverError('LEASE_EXPIRED', `the lease of task ${taskId}'s worker is not valid`, {
        details,
      });
  }
}

export class Scheduler {
  readonly db: Db;
  readonly timing: Timing;
  private readonly log: Logger;
  private readonly maxAttempts: number;
  private readonly audit: NonNullable<SchedulerOptions['audit']>;
  /** Audit rows are recorded (an `audit` was given); the one-statement paths write theirs in SQL. */
  private readonly auditing: boolean;
  /*
   * Submissions are group-committed: a burst of them (eight clients submitting at once) is one
   * statement, not one each, so the statements of dispatch — claims, polls, heartbeats, completions —
   * do not queue behind a row of inserts at the database.
   */
  private readonly insertTask: GroupWriter<NewTask, TaskRow> = groupCommit(
    (tasks) => insertTasks(this.db, tasks),
    64,
  );
  private readonly waiters = new Map<string, Set<() => void>>();
  /**
   * Per worker with a poll in progress: how many polls, and how many changes were announced (notify)
   * since the first of them began — so a poll sees a change it was not waiting for. An entry lives only
   * while a poll of that worker does.
   */
  private readonly watched = new Map<string, { polls: number; changes: number }>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private assignQueued = false;
  /** The last assignment pass stopped because no worker had room (see kick). */
  private noRoom = false;
  private assigning: Promise<void> | undefined;
  private dbTrouble = false;
  private stopped = false;

  constructor(opts: SchedulerOptions) {
    this.db = opts.db;
    this.timing = opts.timing;
    this.log = opts.log ?? SILENT;
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.audit = opts.audit ?? (async () => {});
    this.auditing = opts.audit !== undefined;
  }

  /** Renews every lease (a restarted scheduler never sees leases as expired), then sweeps periodically. */
  async start(): Promise<void> {
    const n = await renewAllLeases(this.db);
    if (n) this.log.info('scheduler started: leases treated as freshly renewed', { workers: n });
    this.sweepTimer = setInterval(() => void this.sweep(), this.timing.sweepMs);
    this.sweepTimer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const set of this.waiters.values()) for (const wake of set) wake();
    await Promise.allSettled([this.sweeping, this.assigning]);
  }

  // ---- sweeps ------------------------------------------------------------------------------------

  /** Expire → reassign → assign. Safe to run in every process at once. */
  sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return this.sweeping ?? Promise.resolve();
    this.sweeping = this.sweepOnce()
      .catch((e: unknown) => {
        // The database is unreachable: no heartbeat can be recorded either. When it is back, the
        // leases are renewed first (as on a restart), so the outage itself never expires anyone.
        if (isConnectionError(e)) {
          if (!this.dbTrouble)
            this.log.warn('database unreachable: sweeps paused', { error: (e as Error).message });
          this.dbTrouble = true;
        } else {
          this.log.error('scheduler sweep failed', { error: (e as Error).message });
        }
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    if (this.dbTrouble) {
      await renewAllLeases(this.db);
      this.dbTrouble = false;
      this.log.info('database reachable again: leases treated as freshly renewed');
    }
    const t = this.timing;
    const expired = await expireLeases(this.db, { leaseTtlMs: t.leaseTtlMs, goneAfterMs: t.goneAfterMs });
    for (const id of expired.unhealthy) this.log.warn('worker lease expired: unhealthy', { worker: id });
    const moved = await this.db.transaction(async (tx) => {
      const r = await reassignExpired(tx, {
        leaseTtlMs: t.leaseTtlMs,
        leaseGraceMs: t.leaseGraceMs,
        maxAttempts: this.maxAttempts,
      });
      for (const id of r.requeued)
        await this.audit(tx, 'system', 'task.requeue', id, { reason: 'worker lease expired' });
      for (const id of r.failed)
        await this.audit(tx, 'system', 'task.fail', id, { reason: 'worker lease expired too often' });
      for (const id of r.cancelled)
        await this.audit(tx, 'system', 'task.cancelled', id, { reason: 'worker lost while cancelling' });
      return r;
    });
    if (moved.workers.length) {
      this.log.warn('tasks taken from expired workers', { ...moved });
      for (const w of moved.workers) this.notify(w);
    }
    await this.assignNow();
  }

  /**
   * Asks for an assignment pass soon (coalesced). `new task`: only a task was added. If the last pass
   * stopped because no worker had room, a new task changes nothing about that, so no pass is run for
   * it: what frees room (a completion, a heartbeat with room, a registration, a cancel, the sweep) asks
   * for one. With every worker busy, a burst of submissions would otherwise cost one futile claim each.
   * Room freed by another server process is seen by this one's sweep.
   */
  kick(why: 'room' | 'new task' = 'room'): void {
    if (this.stopped) return;
    if (why === 'new task' && this.noRoom) return;
    this.noRoom = false;
    if (this.assigning) {
      this.assignQueued = true;
      return;
    }
    void this.assignNow().catch(() => {});
  }

  /** Runs assignment passes until nothing more can be assigned. */
  assignNow(): Promise<void> {
    if (this.assigning) {
      this.assignQueued = true;
      return this.assigning;
    }
    this.assigning = (async () => {
      try {
        do {
          this.assignQueued = false;
          const got: Claimed[] = [];
          // One task per call (its own transaction): short locks, at most one worker row held at a time.
          // CLAIMS_IN_FLIGHT calls at once while they keep assigning: when several workers free up
          // together, the last one's task does not wait for a round trip per worker before it. Each
          // claim is its own transaction and re-checks under its locks, so claims in flight together
          // are as safe as claims from two servers (the embedded store runs them one after another).
          let more = true;
          let last = 'assigned' as ClaimResult['kind'];
          const claim = async (): Promise<void> => {
            while (more && !this.stopped) {
              const r = await claimOne(this.db, { leaseTtlMs: this.timing.leaseTtlMs });
              last = r.kind;
              if (r.kind !== 'assigned') {
                more = false;
                return;
              }
              got.push(r.claimed);
              this.notify(r.claimed.workerId);
            }
          };
          await Promise.all(Array.from({ length: CLAIMS_IN_FLIGHT }, claim));
          // Unless room was announced while the claims were on their way (that asked for another pass).
          this.noRoom = last === 'no-worker' && !this.assignQueued;
          if (got.length) this.log.info('tasks assigned', { assignments: got });
        } while (this.assignQueued && !this.stopped);
      } finally {
        this.assigning = undefined;
      }
    })();
    return this.assigning;
  }

  // ---- workers -----------------------------------------------------------------------------------

  async register(req: RegisterRequest, caller: Caller): Promise<RegisterResponse> {
    const ackKey = randomBytes(32).toString('hex');
    const worker = await this.db.transaction(async (tx) => {
      const w = await insertWorker(tx, {
        id: randomUUID(),
        name: req.name,
        host: req.host,
        pid: req.pid,
        proxyPid: req.proxy_pid,
        capacity: req.capacity ?? 1,
        ackKey,
        tokenId: caller.tokenId,
      });
      await this.audit(tx, caller.name, 'worker.register', w.id, {
        name: req.name,
        host: req.host,
        capacity: w.capacity,
      });
      return w;
    });
    this.log.info('worker registered', { worker: worker.id, name: worker.name, capacity: worker.capacity });
    this.kick();
    const t = this.timing;
    return {
      worker_id: worker.id,
      ack_key: ackKey,
      heartbeat_ms: t.heartbeatMs,
      lease_ttl_ms: t.leaseTtlMs,
      lease_grace_ms: t.leaseGraceMs,
      margin_ms: t.marginMs,
      upstream_timeout_ms: t.upstreamTimeoutMs,
    };
  }

  async deregister(workerId: string, caller: Caller): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.checkWorkerOwner(tx, workerId, caller);
      await markWorkerGone(tx, workerId);
      await this.audit(tx, caller.name, 'worker.deregister', workerId);
    });
    this.notify(workerId);
  }

  /** A worker token may act only for the workers it registered. */
  private async checkWorkerOwner(q: Queryable, workerId: string, caller: Caller): Promise<WorkerRow> {
    const w = await getWorker(q, workerId);
    if (!w)
      throw new DroverError('WORKER_UNKNOWN', `no worker ${workerId}; register first`, {
        details: { worker: workerId },
      });
    if (caller.role === 'worker' && w.token_id !== caller.tokenId) {
      throw new DroverError('FORBIDDEN', `worker ${workerId} was registered with another token`);
    }
    return w;
  }

  async heartbeat(workerId: string, req: HeartbeatRequest, caller: Caller): Promise<HeartbeatResponse> {
    const tokenId = caller.role === 'worker' ? caller.tokenId : null;
    // One statement: the renewal and the audit rows of the tasks it ends commit together.
    const renewed = await renewLease(this.db, workerId, req, tokenId, this.auditing);
    switch (renewed.status) {
      case 'ok':
        break;
      case 'unknown':
        throw new DroverError('WORKER_UNKNOWN', `no worker ${workerId}; register first`, {
          details: { worker: workerId },
        });
      case 'forbidden':
        throw new DroverError('FORBIDDEN', `worker ${workerId} was registered with another token`);
      case 'gone':
        throw new DroverError('WORKER_UNKNOWN', `worker ${workerId} is gone; register again`, {
          details: { worker: workerId },
        });
      default: {
        const never: never = renewed;
        throw new Error(`unknown renewal result ${String(never)}`);
      }
    }
    if (renewed.ended.length) this.notify(workerId);
    if (renewed.ended.length || renewed.tasks.length < renewed.worker.capacity) this.kick();
    const ack: LeaseAck = {
      worker_id: workerId,
      seq: req.seq,
      issued_at: new Date(renewed.receivedAt).toISOString(),
      lease_ttl_ms: this.timing.leaseTtlMs,
      lease_expires_at: new Date(renewed.receivedAt + this.timing.leaseTtlMs).toISOString(),
      tasks: renewed.tasks.map((t) => ({ task_id: t.id, token: t.token })),
    };
    return {
      ack,
      sig: signAck(renewed.worker.ack_key, ack),
      assignments: renewed.tasks.map(toAssignment),
    };
  }

  /** Long poll: returns when the worker's assignment set changes, or after waitMs. */
  /**
   * `known`: the fingerprint (assignmentsPrint) of what the worker last heard; a set that differs from it
   * is answered at once. Without it, the poll waits for a change from what is assigned now.
   */
  async poll(
    workerId: string,
    waitMs: number,
    caller: Caller,
    signal?: AbortSignal,
    known?: string,
  ): Promise<PollResponse> {
    let watch = this.watched.get(workerId);
    if (!watch) this.watched.set(workerId, (watch = { polls: 0, changes: 0 }));
    watch.polls += 1;
    try {
      return await this.pollWatched(workerId, watch, waitMs, caller, signal, known);
    } finally {
      watch.polls -= 1;
      if (watch.polls === 0) this.watched.delete(workerId);
    }
  }

  private async pollWatched(
    workerId: string,
    watch: { readonly changes: number },
    waitMs: number,
    caller: Caller,
    signal: AbortSignal | undefined,
    known: string | undefined,
  ): Promise<PollResponse> {
    const read = async (): Promise<PollView> => pollView(this.db, workerId);
    const seenBefore = watch.changes;
    // One statement answers both the checks and the first look.
    const view = await read();
    if (!view.worker)
      throw new DroverError('WORKER_UNKNOWN', `no worker ${workerId}; register first`, {
        details: { worker: workerId },
      });
    if (caller.role === 'worker' && view.worker.token_id !== caller.tokenId) {
      throw new DroverError('FORBIDDEN', `worker ${workerId} was registered with another token`);
    }
    if (view.worker.status === 'gone') {
      throw new DroverError('WORKER_UNKNOWN', `worker ${workerId} is gone; register again`, {
        details: { worker: workerId },
      });
    }
    const print = assignmentsPrint;
    const first = view.tasks.map(toAssignment);
    const initial = known ?? print(first);
    if (print(first) !== initial) return { assignments: first };
    const deadline = Date.now() + Math.max(0, Math.min(waitMs, this.timing.pollMaxMs));
    let current = first;
    // The change counter as it was before the read that `current` comes from: a change announced
    // while that read was on its way (no waiter registered yet) is not lost, it makes the next look
    // happen at once instead of a sweep interval later.
    let seen = seenBefore;
    while (!this.stopped && !signal?.aborted && Date.now() < deadline) {
      if (watch.changes === seen)
        await this.waitForChange(workerId, Math.min(this.timing.sweepMs, deadline - Date.now()), signal);
      if (this.stopped || signal?.aborted) break;
      seen = watch.changes;
      current = (await read()).tasks.map(toAssignment);
      if (print(current) !== initial) break;
    }
    return { assignments: current };
  }

  private waitForChange(workerId: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(workerId);
      if (!set) this.waiters.set(workerId, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(workerId);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done);
      set.add(done);
    });
  }

  private notify(workerId: string): void {
    const watch = this.watched.get(workerId);
    if (watch) watch.changes += 1;
    const set = this.waiters.get(workerId);
    if (set) for (const wake of [...set]) wake();
  }

  // ---- tasks -------------------------------------------------------------------------------------

  async submit(spec: TaskSpec, caller: Caller): Promise<TaskRow> {
    const flock = flockNameOf(spec.flock.files);
    // Submissions that arrive together are inserted together, each with its audit row (one statement).
    const task = await this.insertTask({
      id: randomUUID(),
      flock,
      spec,
      createdBy: caller.name,
      audit: this.auditing
        ? { actor: caller.name, details: { kind: spec.kind, flock, target: spec.target } }
        : null,
    });
    this.kick('new task');
    return task;
  }

  async control(taskId: string, action: ControlAction, caller: Caller): Promise<TaskRow> {
    const r = await this.db.transaction(async (tx) => {
      const res = await controlTask(tx, taskId, action);
      if (res.kind === 'ok')
        await this.audit(tx, caller.name, `task.${action}`, taskId, { ended: res.ended });
      return res;
    });
    switch (r.kind) {
      case 'not-found':
        throw new DroverError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { task: taskId } });
      case 'ended':
        throw new DroverError('TASK_ENDED', `task ${taskId} has ended already (${r.task.status})`, {
          details: { task: taskId, status: r.task.status },
        });
      case 'conflict':
        throw new DroverError('TASK_CANCELLED', `cannot ${action} task ${taskId}: ${r.message}`, {
          details: { task: taskId },
        });
      case 'ok':
        if (r.task.worker_id) {
          if (r.ended) await touchWorker(this.db, r.task.worker_id).catch(() => {});
          this.notify(r.task.worker_id);
        }
        if (action === 'resume' || r.ended) this.kick();
        return r.task;
      default: {
        const never: never = r;
        throw new Error(`unknown control result ${String(never)}`);
      }
    }
  }

  /**
   * Runs fn inside one transaction holding the task's row lock, after checking the call's fence:
   * `Drover-Fence` names this task and its current token, the task is assigned or running, and its
   * worker's lease is valid now. Refusals: STALE_FENCE (409), LEASE_EXPIRED (403), TASK_NOT_FOUND.
   */
  async fenced<T>(
    taskId: string,
    fenceHeader: string | undefined,
    caller: Caller,
    mode: 'share' | 'update',
    fn: (tx: Queryable, task: FencedTask) => Promise<T>,
  ): Promise<T> {
    const fence = checkFence(taskId, fenceHeader);
    return this.db.transaction(async (tx) => {
      const task = await lockTaskForFence(tx, taskId, { leaseTtlMs: this.timing.leaseTtlMs, mode });
      if (!task) throw new DroverError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { task: taskId } });
      const details = { task: taskId, token: fence.token, current: task.token, status: task.status };
      if (task.token !== fence.token || (task.status !== 'assigned' && task.status !== 'running'))
        throw fenceRefusal(taskId, 'stale', details);
      if (caller.role === 'worker' && task.worker_token_id !== caller.tokenId)
        throw fenceRefusal(taskId, 'not-yours', details);
      if (!task.lease_valid) throw fenceRefusal(taskId, 'lease-expired', details);
      return fn(tx, task);
    });
  }

  /** GET spec through the fence: the task process has started (assigned → running). */
  async fetchSpec(taskId: string, fence: string | undefined, caller: Caller): Promise<FencedTask> {
    return this.fenced(taskId, fence, caller, 'update', async (tx, task) => {
      await markRunning(tx, taskId);
      return task;
    });
  }

  /** Ends the task exactly once; a second or stale completion is STALE_FENCE (409). */
  async complete(
    taskId: string,
    fence: string | undefined,
    caller: Caller,
    outcome: { status: 'succeeded' | 'failed'; result?: unknown; error?: unknown },
  ): Promise<TaskRow['status']> {
    const f = checkFence(taskId, fence);
    // The checks of `fenced`, the ending (a failure after cancel/kill was asked for is the cancellation
    // taking effect) and its audit row: one statement (sql/complete.ts).
    const r = await completeThroughFence(this.db, {
      taskId,
      token: f.token,
      callerTokenId: caller.role === 'worker' ? caller.tokenId : null,
      leaseTtlMs: this.timing.leaseTtlMs,
      status: outcome.status,
      result: outcome.result,
      error: outcome.error,
      actor: caller.name,
      audit: this.auditing,
    });
    switch (r.kind) {
      case 'ok':
        break;
      case 'not-found':
        throw new DroverError('TASK_NOT_FOUND', `no task ${taskId}`, { details: { task: taskId } });
      case 'ended':
        throw new DroverError('STALE_FENCE', `task ${taskId} has ended already`, {
          details: { task: taskId },
        });
      default:
        throw fenceRefusal(taskId, r.kind, {
          task: taskId,
          token: f.token,
          current: r.current,
          status: r.status,
        });
    }
    const { status, workerId } = r;
    if (workerId && !r.touched) await touchWorker(this.db, workerId).catch(() => {});
    // No announcement to the worker's poll here: the worker knows its task ended (it reported it), and
    // the assignment pass announces the next task it gets. Waking its poll now would answer it with the
    // task gone and nothing new yet, and the next task would wait for a second poll.
    this.kick();
    return status;
  }
}
