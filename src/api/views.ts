/**
 * @module api/views — the JSON the API answers for tasks and workers (snake_case, ISO times).
 */
import type { TaskRow, WorkerRow } from '../scheduler/sql/rows.ts';
import type { Timing } from '../scheduler/timing.ts';

const iso = (ms: number | null): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

export function taskView(t: TaskRow): Record<string, unknown> {
  return {
    task_id: t.id,
    kind: t.kind,
    flock: t.flock,
    target: t.target,
    status: t.status,
    control: t.control,
    worker: t.worker_id,
    token: t.token,
    attempts: t.attempts,
    result: t.result ?? null,
    error: t.error ?? null,
    created_by: t.created_by,
    created_at: iso(t.created_at),
    assigned_at: iso(t.assigned_at),
    started_at: iso(t.started_at),
    ended_at: iso(t.ended_at),
  };
}

export function workerView(w: WorkerRow & { tasks: string[] }, timing: Timing): Record<string, unknown> {
  return {
    id: w.id,
    name: w.name,
    host: w.host,
    pid: w.pid,
    proxy_pid: w.proxy_pid,
    status: w.status,
    capacity: w.capacity,
    tasks: w.tasks,
    lease_expires_at: iso(w.last_heartbeat_at + timing.leaseTtlMs),
    last_heartbeat_at: iso(w.last_heartbeat_at),
    registered_at: iso(w.registered_at),
    unhealthy_since: iso(w.unhealthy_since),
  };
}
