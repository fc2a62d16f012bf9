/**
 * @module scheduler/sql/tasks — inserting and reading tasks and their logs (no lease logic here).
 */
import type { Queryable } from '../../store/types.ts';
import type { TaskSpec } from '../protocol.ts';
import { ACTIVE, ms, TASK_COLUMNS, WORKER_COLUMNS, type TaskRow, type WorkerRow } from './rows.ts';

/**
 * A new queued task, and — with `audit` — its `task.submit` audit row, in ONE statement (so one
 * transaction: the task and its audit row commit together, in one round trip).
 */
export async function insertTask(
  q: Queryable,
  t: { id: string; flock: string; spec: TaskSpec; createdBy: string | null },
  audit: { readonly actor: string; readonly details: unknown } | null = null,
): Promise<TaskRow> {
  const { rows } = await q.query<TaskRow>(
    `WITH t AS (
       INSERT INTO drover_tasks AS t (id, kind, flock, target, spec, created_by)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6)
       RETURNING t.*),
     a AS (
       INSERT INTO drover_audit (actor, action, object, details)
       SELECT $7, 'task.submit', t.id, $8::jsonb FROM t WHERE $9)
     SELECT ${TASK_COLUMNS('t')} FROM t`,
    [
      t.id,
      t.spec.kind,
      t.flock,
      t.spec.target,
      JSON.stringify(t.spec),
      t.createdBy,
      audit?.actor ?? null,
      JSON.stringify(audit?.details ?? null),
      audit !== null,
    ],
  );
  return rows[0]!;
}

export async function getTask(q: Queryable, taskId: string): Promise<TaskRow | null> {
  const { rows } = await q.query<TaskRow>(`SELECT ${TASK_COLUMNS('t')} FROM drover_tasks t WHERE t.id = $1`, [
    taskId,
  ]);
  return rows[0] ?? null;
}

export async function listTasks(q: Queryable, opts: { status?: string; limit: number }): Promise<TaskRow[]> {
  const { rows } = await q.query<TaskRow>(
    `SELECT ${TASK_COLUMNS('t')} FROM drover_tasks t
      WHERE ($1::text IS NULL OR t.status = $1)
      ORDER BY t.created_at DESC, t.id LIMIT $2`,
    [opts.status ?? null, opts.limit],
  );
  return rows;
}

/** What a long poll reads, in one statement: the worker's owner and status, and its assignments now. */
export interface PollView {
  readonly worker: { readonly token_id: string | null; readonly status: WorkerRow['status'] } | null;
  readonly tasks: Pick<TaskRow, 'id' | 'token' | 'kind' | 'spec' | 'control'>[];
}

export async function pollView(q: Queryable, workerId: string): Promise<PollView> {
  const { rows } = await q.query<{
    token_id: string | null;
    status: WorkerRow['status'];
    tasks: PollView['tasks'] | null;
  }>(
    `SELECT w.token_id, w.status,
            (SELECT json_agg(json_build_object('id', t.id, 'token', t.token, 'kind', t.kind,
                                               'spec', t.spec, 'control', t.control)
                             ORDER BY t.assigned_at, t.id)
               FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ${ACTIVE}) AS tasks
       FROM drover_workers w WHERE w.id = $1`,
    [workerId],
  );
  const r = rows[0];
  if (!r) return { worker: null, tasks: [] };
  return {
    worker: { token_id: r.token_id, status: r.status },
    tasks: (r.tasks ?? []).map((t) => ({ ...t, token: Number(t.token) })),
  };
}

export async function getWorker(q: Queryable, workerId: string): Promise<WorkerRow | null> {
  const { rows } = await q.query<WorkerRow>(
    `SELECT ${WORKER_COLUMNS('w')} FROM drover_workers w WHERE w.id = $1`,
    [workerId],
  );
  return rows[0] ?? null;
}

export async function listWorkers(q: Queryable): Promise<(WorkerRow & { tasks: string[] })[]> {
  const { rows } = await q.query<WorkerRow & { tasks: string[] | null }>(
    `SELECT ${WORKER_COLUMNS('w')},
            (SELECT array_agg(t.id ORDER BY t.assigned_at, t.id) FROM drover_tasks t
              WHERE t.worker_id = w.id AND t.status IN ${ACTIVE}) AS tasks
       FROM drover_workers w
      ORDER BY w.registered_at, w.id`,
  );
  return rows.map((r) => ({ ...r, tasks: r.tasks ?? [] }));
}

export async function appendEvents(
  q: Queryable,
  taskId: string,
  token: number | null,
  events: readonly unknown[],
): Promise<number> {
  if (events.length === 0) return 0;
  const r = await q.query(
    `INSERT INTO drover_task_events (task_id, token, event)
     SELECT $1, $2, e FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY n`,
    [taskId, token, JSON.stringify(events)],
  );
  return r.rowCount;
}

export interface EventRow {
  seq: number;
  at: number;
  token: number | null;
  event: unknown;
}

export async function readEvents(
  q: Queryable,
  taskId: string,
  after: number,
  limit: number,
): Promise<EventRow[]> {
  const { rows } = await q.query<EventRow>(
    `SELECT seq::double precision AS seq, ${ms('at')} AS at, token::double precision AS token, event
       FROM drover_task_events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [taskId, after, limit],
  );
  return rows;
}
