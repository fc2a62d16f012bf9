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

export interface Claimed {
  readonly taskId: string;
  readonly workerId: string;
  readonly token: number;
}

export type ClaimResult =
  | { readonly kind: 'assigned'; readonly claimed: Claimed }
  | { readonly kind: 'no-task' }
  | { readonly kind: 'no-worker' };

type Reply =
  | { kind: 'assigned'; task_id: string; worker_id: string; token: number }
  | { kind: 'no-task' }
  | { kind: 'no-worker' };

/**
 * One call of `drover_claim_one` (migration 0005): the steps above in one statement, so one round trip
 * and its own transaction when `q` is not inside one.
 */
export async function claimOne(q: Queryable, opts: { leaseTtlMs: number }): Promise<ClaimResult> {
  const { rows } = await q.query<{ r: Reply }>(`SELECT drover_claim_one($1::double precision) AS r`, [
    opts.leaseTtlMs,
  ]);
  const r = rows[0]!.r;
  if (r.kind !== 'assigned') return { kind: r.kind };
  return { kind: 'assigned', claimed: { taskId: r.task_id, workerId: r.worker_id, token: Number(r.token) } };
}
