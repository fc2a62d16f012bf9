/**
 * @module server/admin-token — the first start of a server creates an admin token, writes it to
 * DATA_DIR/admin.token (mode 0600) and has it printed once; later starts reuse the file's token while
 * the store still knows it (a fresh database, e.g. a new --database-url, gets a fresh token).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hashToken, mintToken } from '../api/auth.ts';
import { audit } from '../api/audit.ts';
import { DroverError } from '../errors.ts';
import type { Db } from '../store/types.ts';

export const ADMIN_TOKEN_FILE = 'admin.token';

export async function ensureAdminToken(
  db: Db,
  dataDir: string,
): Promise<{ token: string; created: boolean; file: string }> {
  const dir = resolve(dataDir);
  const file = join(dir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    const { rows } = await db.query(
      `SELECT 1 FROM drover_tokens WHERE token_hash = $1 AND role = 'admin' AND revoked_at IS NULL`,
      [hashToken(token)],
    );
    if (rows.length) return { token, created: false, file };
  }
  const { token } = await db.transaction(async (tx) => {
    const m = await mintToken(tx, 'admin', 'admin');
    await audit(tx, 'system', 'token.create', m.id, { role: 'admin', name: 'admin', bootstrap: true });
    return m;
  });
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600); // an existing file keeps its old mode through writeFileSync
  } catch (e) {
    throw new DroverError(
      'STORE_UNAVAILABLE',
      `cannot write the admin token to ${file}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return { token, created: true, file };
}
