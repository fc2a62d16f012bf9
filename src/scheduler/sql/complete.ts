/**
 * @module scheduler/sql/complete — end a task exactly once, through its fence (completeThroughFence:
 * the row lock and the checks of a fenced call, then the `status IN (assigned, running)` guard, so a
 * second or stale completion changes nothing), and touch its worker afterwards.
 */
import type { Queryable } from '../../store/types.ts';

/**
 * Records that a worker's load changed (for "idle longest" ties). Its own statement, run after the
 * transaction that ended or moved a task, so no transaction holds a task row while waiting for a worker.
 */
export async function touchWorker(q: Queryable, workerId: string): Promise<void> {
  await q.query(`UPDATE drover_workers SET last_work_at = now() WHERE id = $1`, [workerId]);
}

export type FencedCompletion =
  | {
      readonly kind: 'ok';
      readonly status: 'succeeded' | 'failed' | 'cancelled';
      readonly workerId: string | null;
      /** The worker's last_work_at was updated too (false: its row was busy; touchWorker it after). */
      readonly touched: boolean;
    }
  | { readonly kind: 'not-found' | 'ended' }
  | {
      readonly kind: 'stale' | 'not-yours' | 'lease-expired';
      readonly current: number;
      readonly status: string;
    };

type CompletionReply =
  | { kind: 'ok'; status: 'succeeded' | 'failed' | 'cancelled'; worker_id: string | null; touched: boolean }
  | { kind: 'not-found' | 'ended' }
  | { kind: 'stale' | 'not-yours' | 'lease-expired'; current: number; status: string };

/**
 * A completion through its fence in ONE statement (`drover_complete_task`, migration 0006): the row lock,
 * every check of `Scheduler.fenced` (token, status, the caller's worker, the lease), the ending and —
 * with `audit` — its `task.complete` audit row, in one transaction. The caller maps the refusals to the
 * errors `fenced` raises, and touches the worker afterwards when the statement could not (`touched`).
 */
export async function completeThroughFence(
  q: Queryable,
  c: {
    taskId: string;
    token: number;
    /** The caller's token id when it is a worker (its worker must be the task's); null for an admin. */
    callerTokenId: string | null;
    leaseTtlMs: number;
    status: 'succeeded' | 'failed';
    result: unknown;
    error: unknown;
    actor: string;
    audit: boolean;
  },
): Promise<FencedCompletion> {
  const { rows } = await q.query<{ r: CompletionReply }>(
    `SELECT drover_complete_task($1, $2::bigint, $3, $4::double precision, $5, $6::jsonb, $7::jsonb, $8, $9) AS r`,
    [
      c.taskId,
      c.token,
      c.callerTokenId,
      c.leaseTtlMs,
      c.status,
      JSON.stringify(c.result ?? null),
      JSON.stringify(c.error ?? null),
      c.actor,
      c.audit,
    ],
  );
  const r = rows[0]!.r;
  switch (r.kind) {
    case 'ok':
      return { kind: 'ok', status: r.status, workerId: r.worker_id, touched: r.touched };
    case 'not-found':
    case 'ended':
      return { kind: r.kind };
    default:
      return { kind: r.kind, current: Number(r.current), status: r.status };
  }
}
