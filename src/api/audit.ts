/**
 * @module api/audit — every change made through the API is written to `drover_audit`, in the same
 * transaction as the change itself, so the log never claims what did not happen nor misses what did.
 */
import type { Queryable } from '../store/types.ts';

export async function audit(
  q: Queryable,
  actor: string,
  action: string,
  object: string,
  details?: unknown,
): Promise<void> {
  await q.query(`INSERT INTO drover_audit (actor, action, object, details) VALUES ($1, $2, $3, $4::jsonb)`, [
    actor,
    action,
    object,
    JSON.stringify(details ?? null),
  ]);
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string | null;
  action: string;
  object: string | null;
  details: unknown;
}

export async function readAudit(
  q: Queryable,
  opts: { after?: number; limit?: number } = {},
): Promise<AuditEntry[]> {
  const { rows } = await q.query<Omit<AuditEntry, 'at'> & { at: Date | string }>(
    `SELECT id::double precision AS id, at, actor, action, object, details FROM drover_audit
      WHERE id > $1 ORDER BY id LIMIT $2`,
    [opts.after ?? 0, opts.limit ?? 500],
  );
  return rows.map((r) => ({
    ...r,
    at: r.at instanceof Date ? r.at.toISOString() : new Date(String(r.at)).toISOString(),
  }));
}
