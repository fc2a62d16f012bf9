/**
 * @module scheduler/sql/fence — read a task with a row lock for a fenced call, with what decides the
 * call: its current token, status, worker, and whether that worker's lease is valid right now.
 *
 * The lock (FOR SHARE for state writes and logs, FOR UPDATE for completion) is held until the caller's
 * transaction ends, so a reassignment cannot slip between the check and the write it guards.
 */
import type { Queryable } from '../../store/types.ts';
import { interval, TASK_COLUMNS, type TaskRow } from './rows.ts';

export interface FencedTask extends TaskRow {
  readonly worker_token_id: string | null;
  readonly lease_valid: boolean;
}

export async function lockTaskForFence(
  tx: Queryable,
  taskId: string,
  opts: { leaseTtlMs: number; mode: 'share' | 'update' },
): Promise<FencedTask | null> {
  const { rows } = await tx.query<FencedTask>(
    `SELECT ${TASK_COLUMNS('t')}, w.token_id AS worker_token_id,
            coalesce(w.status = 'healthy' AND w.last_heartbeat_at > now() - ${interval('$2')}, false) AS lease_valid
       FROM drover_tasks t LEFT JOIN drover_workers w ON w.id = t.worker_id
      WHERE t.id = $1
      FOR ${opts.mode === 'share' ? 'SHARE' : 'UPDATE'} OF t`,
    [taskId, opts.leaseTtlMs],
  );
  return rows[0] ?? null;
}

/** The task process has started (it fetched its spec or logged): assigned → running. */
export async function markRunning(tx: Queryable, taskId: string): Promise<void> {
  await tx.query(
    `UPDATE drover_tasks SET status = 'running', started_at = coalesce(started_at, now()) WHERE id = $1 AND status = 'assigned'`,
    [taskId],
  );
}
