/**
 * @module scheduler/protocol — the wire contract between the server, the signing proxy and the worker
 * daemon (SPEC.md §5): request/response shapes of /api/v1/workers/* and the fenced task routes, the
 * canonical JSON form of a lease acknowledgement, and the HMAC helpers that sign and verify it.
 *
 * Shared by src/scheduler, src/api, src/proxy and src/worker: change it additively only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const API_PREFIX = '/api/v1';

/** `Drover-Fence: TASK_ID:TOKEN` — added by the proxy to every call a task makes. Lower-case for Node. */
export const FENCE_HEADER = 'drover-fence';

/** Roles of bearer tokens. viewer < operator < approver < admin; worker is its own role. */
export type Role = 'viewer' | 'operator' | 'approver' | 'admin' | 'worker';
export const ROLES = ['viewer', 'operator', 'approver', 'admin', 'worker'] as const satisfies readonly Role[];

/**
 * Worker lifecycle (as seen by the scheduler):
 *   healthy   — registered, last heartbeat received within lease_ttl.
 *   unhealthy — no heartbeat for lease_ttl; after lease_grace more, its tasks are reassigned.
 *               A heartbeat brings it back to healthy (with only the tasks still assigned to it).
 *   gone      — deregistered, or unhealthy for long; a heartbeat answers 404 WORKER_UNKNOWN (re-register).
 */
export type WorkerStatus = 'healthy' | 'unhealthy' | 'gone';

/**
 * Task lifecycle:
 *   queued → assigned (given to a worker, token + 1) → running (the task fetched its spec or its worker
 *   named it in a heartbeat) → succeeded | failed | cancelled (exactly once).
 *   assigned/running → queued again when its worker's lease expired and lease_grace passed (reassign).
 */
export type TaskStatus = 'queued' | 'assigned' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TERMINAL_STATUSES = [
  'succeeded',
  'failed',
  'cancelled',
] as const satisfies readonly TaskStatus[];

/**
 * `noop` does nothing but go through the task lifecycle (assignment, lease, start, completion through the
 * fence): it is how the scheduler is measured without a provisioner run in the way (bench/scheduler.ts).
 */
export type TaskKind = 'plan' | 'apply' | 'destroy' | 'noop';
export const TASK_KINDS = ['plan', 'apply', 'destroy', 'noop'] as const satisfies readonly TaskKind[];

/** What the worker should do with an assigned task. run: keep it running; pause: SIGSTOP it; cancel: stop
 * it gracefully (SIGTERM); kill: SIGKILL it. */
export type Control = 'run' | 'pause' | 'cancel' | 'kill';

/** What a task runs: given at submission (POST /api/v1/tasks), served at GET /tasks/{id}/spec. */
export interface TaskSpec {
  readonly kind: TaskKind;
  /** The flock directory's files by relative name (flock.yaml and any other *.yaml). */
  readonly flock: { readonly files: Readonly<Record<string, string>> };
  readonly target: string;
  readonly artifacts: Readonly<Record<string, string>>;
  readonly release_id?: string;
  readonly parallelism?: number;
  /** A saved/approved plan (Plan JSON) to apply. */
  readonly plan?: unknown;
}

/**
 * A fingerprint of an assignment set (task, token, control; order-free). A worker sends the one of its
 * last poll answer as `known` with its next long poll, which then answers at once if the set differs —
 * an assignment made while no poll was waiting is not left for the next heartbeat to bring.
 */
export function assignmentsPrint(list: readonly Pick<Assignment, 'task_id' | 'token' | 'control'>[]): string {
  return list
    .map((a) => `${a.task_id}:${a.token}:${a.control}`)
    .sort()
    .join(',');
}

export interface Assignment {
  readonly task_id: string;
  /** The lease token of this assignment; the proxy puts it into `Drover-Fence`. */
  readonly token: number;
  readonly kind: TaskKind;
  readonly spec: TaskSpec;
  readonly control: Control;
}

// ---- POST /api/v1/workers/register -------------------------------------------------------------

export interface RegisterRequest {
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  readonly proxy_pid: number;
  /** Default 1. */
  readonly capacity?: number;
}

export interface RegisterResponse {
  readonly worker_id: string;
  /** Hex of 32 random bytes, fresh per registration. The proxy keeps it and strips it from the response. */
  readonly ack_key: string;
  readonly heartbeat_ms: number;
  readonly lease_ttl_ms: number;
  readonly lease_grace_ms: number;
  readonly margin_ms: number;
  /** Hard timeout the proxy puts on upstream calls (shorter than lease_grace). */
  readonly upstream_timeout_ms?: number;
}

// ---- POST /api/v1/workers/{id}/heartbeat -------------------------------------------------------

export interface HeartbeatRequest {
  /** Increases with every heartbeat of this registration. */
  readonly seq: number;
  /** The tasks the worker is working on. */
  readonly tasks: readonly string[];
}

/**
 * The scheduler's acknowledgement of one heartbeat. The lease runs lease_ttl_ms from the scheduler's
 * receipt of the heartbeat (`issued_at`). `tasks` lists every task currently assigned to this worker
 * (whether or not the worker named it) with its current token; a task not listed must not be let out.
 */
export interface LeaseAck {
  readonly worker_id: string;
  readonly seq: number;
  /** ISO time (scheduler clock) the heartbeat was received. */
  readonly issued_at: string;
  readonly lease_ttl_ms: number;
  /** ISO time: issued_at + lease_ttl_ms (informational; the proxy counts on its own monotonic clock). */
  readonly lease_expires_at: string;
  readonly tasks: readonly { readonly task_id: string; readonly token: number }[];
}

export interface HeartbeatResponse {
  readonly ack: LeaseAck;
  /** Hex HMAC-SHA256(ack_key, canonicalJson(ack)). */
  readonly sig: string;
  readonly assignments: readonly Assignment[];
}

// ---- GET /api/v1/workers/{id}/poll?wait_ms=N[&known=assignmentsPrint of the last answer] ------------

export interface PollResponse {
  readonly assignments: readonly Assignment[];
}

// ---- fenced task routes (through the proxy) ------------------------------------------------------

export interface TaskEventsRequest {
  readonly token?: number;
  readonly events: readonly unknown[];
}

export interface TaskCompleteRequest {
  readonly status: 'succeeded' | 'failed';
  readonly result?: unknown;
  readonly error?: unknown;
}

/** GET /api/v1/tasks/{id}/spec */
export interface TaskSpecResponse {
  readonly task_id: string;
  readonly token: number;
  readonly kind: TaskKind;
  /** The flock name (from flock.yaml) the task's state belongs to. */
  readonly flock: string;
  readonly spec: TaskSpec;
}

// ---- signing -----------------------------------------------------------------------------------

/**
 * JSON with object keys sorted at every level and no whitespace, so signer and verifier hash the same
 * bytes whatever order a serializer wrote. `undefined` object members are dropped (as JSON.stringify does).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** Hex HMAC-SHA256 of the canonical JSON of `ack` under the hex key from registration. */
export function signAck(ackKeyHex: string, ack: LeaseAck): string {
  return createHmac('sha256', Buffer.from(ackKeyHex, 'hex')).update(canonicalJson(ack)).digest('hex');
}

/** Constant-time check of an ack signature. False for any malformed input. */
export function verifyAck(ackKeyHex: string, ack: LeaseAck, sigHex: string): boolean {
  if (typeof sigHex !== 'string' || !/^[0-9a-f]{64}$/i.test(sigHex)) return false;
  const expected = Buffer.from(signAck(ackKeyHex, ack), 'hex');
  const given = Buffer.from(sigHex, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** `TASK_ID:TOKEN` */
export function formatFence(taskId: string, token: number): string {
  return `${taskId}:${token}`;
}

/** Parses `TASK_ID:TOKEN`; null when malformed. Task ids never contain ':'. */
export function parseFence(header: string | undefined): { taskId: string; token: number } | null {
  if (typeof header !== 'string') return null;
  const i = header.lastIndexOf(':');
  if (i <= 0) return null;
  const taskId = header.slice(0, i);
  const raw = header.slice(i + 1);
  if (!/^\d{1,15}$/.test(raw)) return null;
  return { taskId, token: Number(raw) };
}
