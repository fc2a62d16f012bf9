/**
 * @module scheduler/sql/register — a worker registration: a new worker row (a new id and a new ack key
 * per registration, so a restarted worker never inherits an old lease), healthy, lease running from now.
 */
import type { Queryable } from '../../store/types.ts';
import { WORKER_COLUMNS, type WorkerRow } from './rows.ts';

export async function insertWorker(
  q: Queryable,
  w: {
    id: string;
    name: string;
    host: string;
    pid: number;
    proxyPid: number;
    capacity: number;
    ackKey: string;
    tokenId: string | null;
  },
): Promise<WorkerRow> {
  const { rows } = await q.query<WorkerRow>(
    `INSERT INTO drover_workers AS w (id, name, host, pid, proxy_pid, capacity, ack_key, token_id, last_heartbeat_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp())
     RETURNING ${WORKER_COLUMNS('w')}`,
    [w.id, w.name, w.host, w.pid, w.proxyPid, w.capacity, w.ackKey, w.tokenId],
  );
  return rows[0]!;
}

/** A clean shutdown: gone at once; its tasks (if any) still wait out the quarantine before moving. */
export async function markWorkerGone(q: Queryable, workerId: string): Promise<boolean> {
  const r = await q.query(
    `UPDATE drover_workers SET status = 'gone', unhealthy_since = coalesce(unhealthy_since, now()) WHERE id = $1 AND status <> 'gone'`,
    [workerId],
  );
  return r.rowCount > 0;
}
