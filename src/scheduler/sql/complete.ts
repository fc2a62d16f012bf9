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
  const r = await tx.query<{ worker_id: string | null }>(
    `UPDATE drover_tasks SET status = $2, result = $3::jsonb, error = $4::jsonb, ended_at = now()
      WHERE id = $1 AND status IN ${ACTIVE}
      RETURNING worker_id`,
    [taskId, outcome.status, JSON.stringify(outcome.result ?? null), JSON.stringify(outcome.error ?? null)],
  );
  const w = r.rows[0]?.worker_id;
  if (w) await tx.query(`UPDATE drover_workers SET last_work_at = now() WHERE id = $1`, [w]);
  return r.rowCount > 0;
}
