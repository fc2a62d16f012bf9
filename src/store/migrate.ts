/**
 * @module store/migrate — one schema and one migration history for both stores.
 *
 * Migrations are the files `migrations/NNNN_name.sql` beside this module (copied to dist by the build),
 * applied in number order, each in its own transaction together with its row in `drover_migrations`.
 * Several processes starting at once on one PostgreSQL serialise on a transaction-scoped advisory
 * lock, and each re-checks what is applied after taking it, so every migration runs exactly once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DroverError } from '../errors.ts';
import type { Db, Queryable } from './types.ts';

/** Arbitrary but fixed: the advisory lock key every Drover process uses for migrations ("drover" in hex-ish). */
const MIGRATION_LOCK_KEY = 0x0d20_7e12;

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The migrations shipped with this build, in order. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (e) {
    throw new DroverError(
      'STORE_MIGRATION',
      `cannot read the migrations directory ${dir}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const migrations: Migration[] = [];
  for (const file of files) {
    const m = FILE_PATTERN.exec(file);
    if (!m) continue;
    migrations.push({
      version: Number(m[1]),
      name: file.slice(0, -4),
      sql: readFileSync(`${dir}/${file}`, 'utf8'),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    const [prev, cur] = [migrations[i - 1]!, migrations[i]!];
    if (prev.version === cur.version) {
      throw new DroverError(
        'STORE_MIGRATION',
        `two migrations share number ${cur.version}: ${prev.name}, ${cur.name}`,
      );
    }
  }
  return migrations;
}

async function lockAndEnsureTable(tx: Queryable): Promise<Set<number>> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
  await tx.query(
    `CREATE TABLE IF NOT EXISTS drover_migrations (
       version integer PRIMARY KEY,
       name text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  const { rows } = await tx.query<{ version: number }>('SELECT version FROM drover_migrations');
  return new Set(rows.map((r) => r.version));
}

/**
 * Applies every migration not yet applied; returns the names of those it applied. A failing migration
 * is rolled back whole and reported as STORE_MIGRATION; those before it stay applied.
 */
export async function migrate(
  db: Db,
  migrations: readonly Migration[] = loadMigrations(),
): Promise<string[]> {
  const applied = await db.transaction(lockAndEnsureTable);
  const ran: string[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    try {
      const didRun = await db.transaction(async (tx) => {
        // Re-check under the lock: another process may have applied it since we looked.
        const now = await lockAndEnsureTable(tx);
        if (now.has(m.version)) return false;
        await tx.query(m.sql);
        await tx.query('INSERT INTO drover_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        return true;
      });
      if (didRun) ran.push(m.name);
    } catch (e) {
      if (e instanceof DroverError) throw e;
      throw new DroverError('STORE_MIGRATION', `migration ${m.name} failed: ${(e as Error).message}`, {
        details: { migration: m.name },
        cause: e,
      });
    }
  }
  return ran;
}
