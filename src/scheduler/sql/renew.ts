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
import type { Control, TaskKind, TaskSpec } from '../protocol.ts';
import { ACTIVE } from './rows.ts';

/** What an acknowledgement needs of a task assigned to the worker. */
export interface RenewedTask {
  readonly id: string;
  readonly token: number;
  readonly kind: TaskKind;
  readonly spec: TaskSpec;
  readonly control: Control;
}

export interface Renewed {
  readonly worker: { readonly id: string; readonly ack_key: string; readonly capacity: number };
  /** Receipt time (epoch ms, database clock): the lease runs from here. */
  readonly receivedAt: number;
  /** Tasks assigned to this worker now (after this heartbeat's effects), with their current token. */
  readonly tasks: RenewedTask[];
  /** Tasks this heartbeat ended (cancel/kill the worker has stopped). */
  readonly ended: string[];
}

export type RenewResult =
  ({ readonly status: 'ok' } & Renewed) | { readonly status: 'unknown' | 'forbidden' | 'gone' };

type Reply =
  | {
      status: 'ok';
      received_at: number;
      worker: Renewed['worker'];
      tasks: RenewedTask[];
      ended: string[];
    }
  | { status: 'unknown' | 'forbidden' | 'gone' };

/**
 * One call of `drover_renew_lease` (migrations 0005, 0006), which does, in this order: check that the
 * caller's token registered the worker (`tokenId` null: an admin, not checked), lock the worker row,
 * renew the lease from the moment of receipt (clock_timestamp()), mark the assigned tasks the heartbeat
 * names as running, end the cancelled or killed tasks it no longer names (with `audit`, recording a
 * `task.cancelled` audit row for each), and read back what is assigned now. One statement, so one
 * transaction: no caller needs to wrap it in one.
 */
export async function renewLease(
  q: Queryable,
  workerId: string,
  heartbeat: { seq: number; tasks: readonly string[] },
  tokenId: string | null,
  audit: boolean,
): Promise<RenewResult> {
  const { rows } = await q.query<{ r: Reply }>(
    `SELECT drover_renew_lease($1, $2::bigint, $3::text[], $4, $5) AS r`,
    [workerId, heartbeat.seq, heartbeat.tasks, tokenId, audit],
  );
  const r = rows[0]!.r;
  if (r.status !== 'ok') return { status: r.status };
  return {
    status: 'ok',
    worker: r.worker,
    receivedAt: r.received_at,
    tasks: r.tasks.map((t) => ({ ...t, token: Number(t.token) })),
    ended: r.ended,
  };
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
