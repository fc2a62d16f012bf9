/**
 * @module scheduler/sql/expire — mark healthy workers whose lease ran out (no heartbeat RECEIVED within
 * lease_ttl) as unhealthy, and long-silent unhealthy workers without tasks as gone.
 *
 * One UPDATE each: row locks make it safe to run in every server process at once.
 */
import type { Queryable } from '../../store/types.ts';
import { ACTIVE, interval } from './rows.ts';

export async function expireLeases(
  q: Queryable,
  opts: { leaseTtlMs: number; goneAfterMs: number },
): Promise<{ unhealthy: string[]; gone: string[] }> {
  const { rows: unhealthy } = await q.query<{ id: string }>(
    `UPDATE drover_workers SET status = 'unhealthy', unhealthy_since = now()
      WHERE status = 'healthy' AND last_heartbeat_at < now() - ${interval('$1')}
      RETURNING id`,
    [opts.leaseTtlMs],
  );
  const { rows: gone } = await q.query<{ id: string }>(
    `UPDATE drover_workers w SET status = 'gone'
      WHERE w.status = 'unhealthy' AND w.last_heartbeat_at < now() - ${interval('$1')}
        AND NOT EXISTS (SELECT 1 FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ${ACTIVE})
      RETURNING w.id`,
    [opts.goneAfterMs],
  );
  return { unhealthy: unhealthy.map((r) => r.id), gone: gone.map((r) => r.id) };
}
