/**
 * @module scheduler/sql/claim — assignment of ONE queued task, in the caller's transaction: claim the
 * oldest runnable queued task, and give it to the eligible healthy worker with the least work (ties:
 * the one idle longest), within its capacity. Token + 1.
 *
 * Concurrency (several server processes on one PostgreSQL):
 *  - the task is claimed with `FOR UPDATE SKIP LOCKED`, so two processes never claim the same task;
 *  - the best worker is picked without a lock, then locked with a plain `FOR UPDATE` (waiting: a worker
 *    busy with a heartbeat for a few milliseconds is still the right choice) and re-checked in fresh
 *    statements while the lock is held — healthy, lease valid, load below capacity — so two processes
 *    never overfill one worker. If it no longer qualifies, the next best is tried.
 *  - one transaction holds at most one worker lock, and nothing that holds a worker lock ever waits for
 *    a queued task's lock, so assignment cannot deadlock with heartbeats, sweeps or other assignments.
 */
import type { Queryable } from '../../store/types.ts';
import { ACTIVE, interval } from './rows.ts';

export interface Claimed {
  readonly taskId: string;
  readonly workerId: string;
  readonly token: number;
}

export type ClaimResult =
  | { readonly kind: 'assigned'; readonly claimed: Claimed }
  | { readonly kind: 'no-task' }
  | { readonly kind: 'no-worker' };

const LOAD = `(SELECT count(*) FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ${ACTIVE})`;

export async function claimOne(tx: Queryable, opts: { leaseTtlMs: number }): Promise<ClaimResult> {
  const { rows: tasks } = await tx.query<{ id: string }>(
    `SELECT id FROM drover_tasks
      WHERE status = 'queued' AND control = 'run'
      ORDER BY created_at, id
      LIMIT 1
      FOR UPDATE SKIP LOCKED`,
  );
  const task = tasks[0];
  if (!task) return { kind: 'no-task' };
  const tried: string[] = [];
  // Each pass assigns or rules one more worker out, so this ends.
  for (;;) {
    const { rows } = await tx.query<{ id: string }>(
      `SELECT w.id FROM drover_workers w
        WHERE w.status = 'healthy'
          AND w.last_heartbeat_at > now() - ${interval('$1')}
          AND NOT (w.id = ANY($2::text[]))
          AND ${LOAD} < w.capacity
        ORDER BY ${LOAD}, w.last_work_at, w.id
        LIMIT 1`,
      [opts.leaseTtlMs, tried],
    );
    const pick = rows[0];
    if (!pick) return { kind: 'no-worker' };
    // Lock, then re-check on fresh snapshots what the pick was based on.
    const { rows: ok } = await tx.query<{ id: string }>(
      `SELECT w.id FROM drover_workers w
        WHERE w.id = $1 AND w.status = 'healthy' AND w.last_heartbeat_at > now() - ${interval('$2')}
        FOR UPDATE`,
      [pick.id, opts.leaseTtlMs],
    );
    const { rows: room } = ok[0]
      ? await tx.query<{ ok: boolean }>(
          `SELECT ${LOAD} < w.capacity AS ok FROM drover_workers w WHERE w.id = $1`,
          [pick.id],
        )
      : { rows: [] };
    if (room[0]?.ok) {
      const { rows: upd } = await tx.query<{ token: number }>(
        `UPDATE drover_tasks
            SET status = 'assigned', worker_id = $2, token = token + 1, attempts = attempts + 1,
                assigned_at = now(), started_at = NULL
          WHERE id = $1
          RETURNING token::double precision AS token`,
        [task.id, pick.id],
      );
      await tx.query(`UPDATE drover_workers SET last_work_at = now() WHERE id = $1`, [pick.id]);
      return { kind: 'assigned', claimed: { taskId: task.id, workerId: pick.id, token: upd[0]!.token } };
    }
    tried.push(pick.id);
  }
}
