/**
 * @module scheduler/sql/tasks — inserting and reading tasks and their logs (no lease logic here).
 */
import type { Queryable } from '../../store/types.ts';
import type { TaskSpec } from '../protocol.ts';
import { ACTIVE, ms, TASK_COLUMNS, WORKER_COLUMNS, type TaskRow, type WorkerRow } from './rows.ts';

export interface NewTask {
  readonly id: string;
  readonly flock: string;
  readonly spec: TaskSpec;
  readonly createdBy: string | null;
  /** With it, the task's `task.submit` audit row is written in the same statement. */
  readonly audit: { readonly actor: string; readonly details: unknown } | null;
}

/**
 * New queued tasks, and their `task.submit` audit rows, in ONE statement (one transaction: each task
 * and its audit row commit together), in the order given; the rows come back in that order. Each
 * task's created_at is the clock at its own insertion (clock_timestamp), not the statement's start; rows
 * of one group can still share a value where the clock is coarse (PGlite), and then queue by id —
 * submissions that arrive together have no order of their own.
 */
export async function insertTasks(q: Queryable, tasks: readonly NewTask[]): Promise<TaskRow[]> {
  const input = tasks.map((t, i) => ({
    ord: i,
    id: t.id,
    kind: t.spec.kind,
    flock: t.flock,
    target: t.spec.target,
    spec: t.spec,
    created_by: t.createdBy,
    actor: t.audit?.actor ?? null,
    details: t.audit?.details ?? null,
    audit: t.audit !== null,
  }));
  const { rows } = await q.query<TaskRow & { ord: number }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb)
         AS x(ord int, id text, kind text, flock text, target text, spec jsonb, created_by text,
              actor text, details jsonb, audit boolean)),
     t AS (
       INSERT INTO drover_tasks AS t (id, kind, flock, target, spec, created_by, created_at)
       SELECT id, kind, flock, target, spec, created_by, clock_timestamp() FROM input ORDER BY ord
       RETURNING t.*),
     a AS (
       INSERT INTO drover_audit (actor, action, object, details)
       SELECT actor, 'task.submit', id, details FROM input WHERE audit ORDER BY ord)
     SELECT input.ord, ${TASK_COLUMNS('t')} FROM t JOIN input ON input.id = t.id ORDER BY input.ord`,
    [JSON.stringify(input)],
  );
  return rows.map(({ ord: _ord, ...row }) => row);
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
