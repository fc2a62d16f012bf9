/**
 * @module scheduler/sql/reassign — after the quarantine, take the tasks of a worker whose lease expired
 * (last heartbeat received more than lease_ttl + lease_grace ago, worker not healthy) away from it.
 *
 * The rule, by task state:
 *   - control cancel / kill      → cancelled (the user wanted it stopped; it is, with its worker).
 *   - attempts ≥ maxAttempts     → failed (LEASE_EXPIRED): a task that keeps losing its workers —
 *                                  perhaps because it kills them — is not retried forever.
 *   - otherwise (plan, apply, destroy; assigned or running; run or pause)
 *                                → queued again; the next assignment gives it token + 1. Safe to re-run:
 *                                  the engine is idempotent (refresh resolves pending create intents),
 *                                  and the old token is refused by the server's and the services' fences.
 *
 * The worker rows are locked first (`FOR UPDATE SKIP LOCKED`, re-checking the condition on the locked
 * row), the same order a heartbeat takes, so a worker that heartbeats at the last moment either keeps
 * its tasks (heartbeat first) or gets an acknowledgement without them (reassignment first).
 */
import type { Queryable } from '../../store/types.ts';
import { ACTIVE, interval } from './rows.ts';

export interface Reassigned {
  readonly requeued: string[];
  readonly cancelled: string[];
  readonly failed: string[];
  readonly workers: string[];
}

export async function reassignExpired(
  tx: Queryable,
  opts: { leaseTtlMs: number; leaseGraceMs: number; maxAttempts: number },
): Promise<Reassigned> {
  const { rows: workers } = await tx.query<{ id: string }>(
    `SELECT w.id FROM drover_workers w
      WHERE w.status <> 'healthy'
        AND w.last_heartbeat_at < now() - ${interval('$1')}
        AND EXISTS (SELECT 1 FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ${ACTIVE})
      FOR UPDATE OF w SKIP LOCKED`,
    [opts.leaseTtlMs + opts.leaseGraceMs],
  );
  const ids = workers.map((w) => w.id);
  if (ids.length === 0) return { requeued: [], cancelled: [], failed: [], workers: [] };
  const { rows: cancelled } = await tx.query<{ id: string }>(
    `UPDATE drover_tasks SET status = 'cancelled', ended_at = now(),
            error = coalesce(error, jsonb_build_object('code', 'TASK_CANCELLED', 'message', 'the task was ' || control || 'ed; its worker was lost'))
      WHERE worker_id = ANY($1::text[]) AND status IN ${ACTIVE} AND control IN ('cancel', 'kill')
      RETURNING id`,
    [ids],
  );
  const { rows: failed } = await tx.query<{ id: string }>(
    `UPDATE drover_tasks SET status = 'failed', ended_at = now(),
            error = jsonb_build_object('code', 'LEASE_EXPIRED', 'message',
              'the task lost its worker ' || attempts || ' times; not retried again')
      WHERE worker_id = ANY($1::text[]) AND status IN ${ACTIVE} AND attempts >= $2
      RETURNING id`,
    [ids, opts.maxAttempts],
  );
  const { rows: requeued } = await tx.query<{ id: string }>(
    `UPDATE drover_tasks SET status = 'queued', worker_id = NULL, assigned_at = NULL, started_at = NULL
      WHERE worker_id = ANY($1::text[]) AND status IN ${ACTIVE}
      RETURNING id`,
    [ids],
  );
  return {
    requeued: requeued.map((r) => r.id),
    cancelled: cancelled.map((r) => r.id),
    failed: failed.map((r) => r.id),
    workers: ids,
  };
}
