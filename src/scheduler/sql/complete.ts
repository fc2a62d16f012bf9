/**
 * @module scheduler/sql/complete — end a task exactly once. Callers hold the task's row lock (fence.ts)
 * and have checked the fence; the `status IN (assigned, running)` guard makes a second completion a
 * no-op that reports false even so.
 */
import type { Queryable } from '../../store/types.ts';
import { ACTIVE } from './rows.ts';

export async function completeTask(
  tx: Queryable,
  taskId: string,
  outcome: { status: 'succeeded' | 'failed' | 'cancelled'; result: unknown; error: unknown },
): Promise<boolean> {
  const r = await tx.query(
    `UPDATE drover_tasks SET status = $2, result = $3::jsonb, error = $4::jsonb, ended_at = now()
      WHERE id = $1 AND status IN ${ACTIVE}`,
    [taskId, outcome.status, JSON.stringify(outcome.result ?? null), JSON.stringify(outcome.error ?? null)],
  );
  // The worker's last_work_at is touched AFTER this commits (touchWorker): taking the worker row here,
  // after the task row, would invert the lock order of heartbeats and reassignment (worker → tasks).
  return r.rowCount > 0;
}

/**
 * Records that a worker's load changed (for "idle longest" ties). Its own statement, run after the
 * transaction that ended or moved a task, so no transaction holds a task row while waiting for a worker.
 */
export async function touchWorker(q: Queryable, workerId: string): Promise<void> {
  await q.query(`UPDATE drover_workers SET last_work_at = now() WHERE id = $1`, [workerId]);
}
