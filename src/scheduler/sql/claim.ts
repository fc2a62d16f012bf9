/**
 * @module scheduler/sql/claim — assignment: claim queued tasks and give each to the eligible healthy
 * worker with the least work (ties: the one idle longest), within its capacity. Token + 1.
 *
 * Concurrency (several server processes on one PostgreSQL): queued tasks are claimed with
 * `FOR UPDATE SKIP LOCKED`, so two processes never claim the same task; the chosen worker's row is
 * locked (`FOR UPDATE SKIP LOCKED`) and its load re-counted in a fresh statement while the lock is held,
 * so two processes never overfill one worker. Everything commits together or not at all.
 */
import type { Queryable } from '../../store/types.ts';
import { ACTIVE, interval } from './rows.ts';

export interface Claimed {
  readonly taskId: string;
  readonly workerId: string;
  readonly token: number;
}

/** Assigns up to `limit` queued tasks; returns what it assigned (to notify those workers). */
export async function claimAndAssign(
  tx: Queryable,
  opts: { leaseTtlMs: number; limit: number },
): Promise<Claimed[]> {
  const { rows: tasks } = await tx.query<{ id: string }>(
    `SELECT id FROM drover_tasks
      WHERE status = 'queued' AND control = 'run'
      ORDER BY created_at, id
      LIMIT $1
      FOR UPDATE SKIP LOCKED`,
    [opts.limit],
  );
  const out: Claimed[] = [];
  const full: string[] = [];
  for (const task of tasks) {
    let workerId: string | undefined;
    // Each pass either finds room or marks one more worker full, so this ends.
    for (;;) {
      const { rows } = await tx.query<{ id: string; capacity: number }>(
        `SELECT w.id, w.capacity FROM drover_workers w
          WHERE w.status = 'healthy'
            AND w.last_heartbeat_at > now() - ${interval('$1')}
            AND NOT (w.id = ANY($2::text[]))
            AND (SELECT count(*) FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ${ACTIVE}) < w.capacity
          ORDER BY (SELECT count(*) FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ${ACTIVE}),
                   w.last_work_at, w.id
          LIMIT 1
          FOR UPDATE OF w SKIP LOCKED`,
        [opts.leaseTtlMs, full],
      );
      const w = rows[0];
      if (!w) break;
      // Re-count under the row lock: a fresh snapshot sees assignments other processes committed.
      const { rows: load } = await tx.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM drover_tasks WHERE worker_id = $1 AND status IN ${ACTIVE}`,
        [w.id],
      );
      if ((load[0]?.n ?? 0) < w.capacity) {
        workerId = w.id;
        break;
      }
      full.push(w.id);
    }
    if (!workerId) break; // no room anywhere: the rest stay queued
    const { rows: upd } = await tx.query<{ token: number }>(
      `UPDATE drover_tasks
          SET status = 'assigned', worker_id = $2, token = token + 1, attempts = attempts + 1,
              assigned_at = now(), started_at = NULL
        WHERE id = $1
        RETURNING token::double precision AS token`,
      [task.id, workerId],
    );
    await tx.query(`UPDATE drover_workers SET last_work_at = now() WHERE id = $1`, [workerId]);
    out.push({ taskId: task.id, workerId, token: upd[0]!.token });
  }
  return out;
}
