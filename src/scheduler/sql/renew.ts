/**
 * @module scheduler/sql/renew — one heartbeat: renew the worker's lease from the moment of RECEIPT
 * (database clock), and read back what is assigned to it for the acknowledgement.
 *
 * A heartbeat from an unhealthy worker makes it healthy again, but only the tasks still assigned to it
 * come back in the acknowledgement: a task already reassigned (worker_id moved on, token + 1) is not in
 * it, so the proxy keeps refusing that task's calls. The worker row is locked first, the same order the
 * reassign sweep takes, so a heartbeat and a reassignment of the same worker serialise.
 */
import type { Queryable } from '../../store/types.ts';
import { ACTIVE, ms, TASK_COLUMNS, WORKER_COLUMNS, type TaskRow, type WorkerRow } from './rows.ts';

export interface Renewed {
  readonly worker: WorkerRow;
  /** Receipt time (epoch ms, database clock): the lease runs from here. */
  readonly receivedAt: number;
  /** Tasks assigned to this worker now (after this heartbeat's effects), with their current token. */
  readonly tasks: TaskRow[];
  /** Tasks this heartbeat ended (cancel/kill the worker has stopped). */
  readonly ended: string[];
}

/** Null when the worker is unknown or gone (it must register again). */
export async function renewLease(
  tx: Queryable,
  workerId: string,
  heartbeat: { seq: number; tasks: readonly string[] },
): Promise<Renewed | null> {
  const { rows: locked } = await tx.query<{ status: string }>(
    `SELECT status FROM drover_workers WHERE id = $1 FOR UPDATE`,
    [workerId],
  );
  if (!locked[0] || locked[0].status === 'gone') return null;
  const { rows } = await tx.query<WorkerRow & { received_at: number }>(
    `UPDATE drover_workers w
        SET last_heartbeat_at = clock_timestamp(), last_seq = greatest(w.last_seq, $2::bigint),
            status = 'healthy', unhealthy_since = NULL
      WHERE w.id = $1
      RETURNING ${WORKER_COLUMNS('w')}, ${ms('w.last_heartbeat_at')} AS received_at`,
    [workerId, heartbeat.seq],
  );
  const worker = rows[0]!;
  // Task rows are taken SKIP LOCKED: one being completed right now (its row locked) is left to that
  // completion, and a heartbeat never waits for a task row while holding the worker row.
  // Named by the worker: it has started them.
  await tx.query(
    `UPDATE drover_tasks SET status = 'running', started_at = coalesce(started_at, now())
      WHERE id IN (SELECT id FROM drover_tasks
                    WHERE worker_id = $1 AND status = 'assigned' AND id = ANY($2::text[])
                    FOR UPDATE SKIP LOCKED)`,
    [workerId, heartbeat.tasks],
  );
  // Cancelled or killed, was running, and the worker no longer names it: the worker stopped it.
  const { rows: ended } = await tx.query<{ id: string }>(
    `UPDATE drover_tasks SET status = 'cancelled', ended_at = now(),
            error = coalesce(error, jsonb_build_object('code', 'TASK_CANCELLED', 'message', 'the task was ' || control || 'ed'))
      WHERE id IN (SELECT id FROM drover_tasks
                    WHERE worker_id = $1 AND status = 'running' AND control IN ('cancel', 'kill')
                      AND NOT (id = ANY($2::text[]))
                    FOR UPDATE SKIP LOCKED)
      RETURNING id`,
    [workerId, heartbeat.tasks],
  );
  if (ended.length)
    await tx.query(`UPDATE drover_workers SET last_work_at = now() WHERE id = $1`, [workerId]);
  const { rows: tasks } = await tx.query<TaskRow>(
    `SELECT ${TASK_COLUMNS('t')} FROM drover_tasks t
      WHERE t.worker_id = $1 AND t.status IN ${ACTIVE}
      ORDER BY t.assigned_at, t.id`,
    [workerId],
  );
  return { worker, receivedAt: worker.received_at, tasks, ended: ended.map((r) => r.id) };
}

/**
 * A (re)started scheduler treats every lease as freshly renewed, never as expired: while it was down no
 * heartbeat could be received, which says nothing about the workers. Unhealthy workers stay unhealthy
 * (they were so before) but their reassignment clock restarts too — later, never earlier, is safe.
 */
export async function renewAllLeases(q: Queryable): Promise<number> {
  const r = await q.query(
    `UPDATE drover_workers SET last_heartbeat_at = clock_timestamp()
      WHERE status <> 'gone'
         OR EXISTS (SELECT 1 FROM drover_tasks t WHERE t.worker_id = drover_workers.id AND t.status IN ${ACTIVE})`,
  );
  return r.rowCount;
}
