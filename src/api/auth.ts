/**
 * @module api/auth — bearer tokens (SPEC.md §8): minted at random, stored only as a SHA-256 hash in
 * `drover_tokens`, each with one role. viewer < operator < approver < admin; `worker` is its own role
 * (workers and their proxies), and admin may do what a worker does (diagnostics, tests).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DroverError } from '../errors.ts';
import type { Role } from '../scheduler/protocol.ts';
import type { Caller } from '../scheduler/scheduler.ts';
import type { Queryable } from '../store/types.ts';

/** Who may call a route. */
export type Access = 'public' | 'viewer' | 'operator' | 'approver' | 'admin' | 'worker';

const RANK: Readonly<Record<Role, number>> = { viewer: 1, operator: 2, approver: 3, admin: 4, worker: 0 };

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** `drv_` + 32 random bytes, base64url: unguessable, and recognisable in logs and leak scanners. */
export function newToken(): string {
  return `drv_${randomBytes(32).toString('base64url')}`;
}

export async function mintToken(
  q: Queryable,
  role: Role,
  name: string,
): Promise<{ id: string; token: string }> {
  const token = newToken();
  const id = randomUUID();
  await q.query(`INSERT INTO drover_tokens (id, name, role, token_hash) VALUES ($1, $2, $3, $4)`, [
    id,
    name,
    role,
    hashToken(token),
  ]);
  return { id, token };
}

/** True when the caller's role passes `access`. */
export function allows(access: Access, role: Role): boolean {
  switch (access) {
    case 'public':
      return true;
    case 'worker':
      return role === 'worker' || role === 'admin';
    case 'viewer':
    case 'operator':
    case 'approver':
    case 'admin':
      return role !== 'worker' && RANK[role] >= RANK[access];
    default: {
      const never: never = access;
      throw new Error(`unknown access ${String(never)}`);
    }
  }
}

/**
 * Resolves `Authorization: Bearer …` to a caller. A short cache keeps heartbeats and polls from costing
 * a query each; a token is never revoked faster than CACHE_MS anyway (revocation is not exposed yet).
 */
export class Authenticator {
  private static readonly CACHE_MS = 10_000;
  private readonly cache = new Map<string, { caller: Caller; until: number }>();

  constructor(private readonly db: Queryable) {}

  async authenticate(header: string | undefined): Promise<Caller> {
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new DroverError('UNAUTHORIZED', 'missing bearer token (Authorization: Bearer TOKEN)');
    const hash = hashToken(m[1]!);
    const hit = this.cache.get(hash);
    if (hit && hit.until > Date.now()) return hit.caller;
    const { rows } = await this.db.query<{ id: string; name: string; role: Role }>(
      `SELECT id, name, role FROM drover_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    if (!row) throw new DroverError('UNAUTHORIZED', 'invalid bearer token');
    const caller: Caller = { tokenId: row.id, name: row.name, role: row.role };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { caller, until: Date.now() + Authenticator.CACHE_MS });
    return caller;
  }
}

export function requireAccess(caller: Caller, access: Access): void {
  if (!allows(access, caller.role)) {
    throw new DroverError('FORBIDDEN', `this action needs the ${access} role; the token has ${caller.role}`, {
      details: { needed: access, role: caller.role },
    });
  }
}
