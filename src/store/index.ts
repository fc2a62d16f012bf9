/**
 * @module store — the database behind Drover (SPEC.md §8): PGlite in the data directory by default,
 * a real PostgreSQL with a URL; one schema and one migration history for both.
 *
 * Conventions both stores keep, so code runs the same on either:
 *  - parameters are `$1…`; a query without parameters may hold several statements (the last result is
 *    returned) — migrations use this;
 *  - pass json/jsonb parameters as `JSON.stringify(value)` with a `::jsonb` cast (pg would send a JS
 *    array as a PostgreSQL array);
 *  - int8 comes back as a number, numeric as a string, json/jsonb parsed, timestamptz as a Date;
 *  - inside `transaction(fn)`, use only the `tx` given to fn.
 */
import { DroverError } from '../errors.ts';
import { migrate } from './migrate.ts';
import { openPgDb } from './pg-db.ts';
import { DEFAULT_DATA_DIR, openPgliteDb } from './pglite-db.ts';
import type { Db, StoreOptions } from './types.ts';

export type { Db, QueryResult, Queryable, StoreOptions } from './types.ts';
export { DbStateBackend } from './state-store.ts';
export type { HistoryEntry, HistoryOptions, StateSummary } from './state-store.ts';
export { loadMigrations, migrate } from './migrate.ts';
export type { Migration } from './migrate.ts';
export { redactUrl } from './pg-db.ts';
export { isConnectionError } from './connection-error.ts';
export { acquireDataDirLock, isProcessAlive, LOCK_FILE } from './data-dir-lock.ts';
export { DEFAULT_DATA_DIR } from './pglite-db.ts';

/**
 * The options a command gets from its flags, completed from the environment: `--database-url`, else
 * DATABASE_URL; `--data-dir`, else the default. An empty DATABASE_URL counts as unset.
 */
export function resolveStoreOptions(
  flags: { databaseUrl?: string | undefined; dataDir?: string | undefined } = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): StoreOptions {
  const databaseUrl = flags.databaseUrl || env['DATABASE_URL'] || undefined;
  return databaseUrl ? { databaseUrl } : { dataDir: flags.dataDir ?? DEFAULT_DATA_DIR };
}

/**
 * Opens the store and brings its schema up to date. With `databaseUrl`, a `pg` pool on that server;
 * otherwise PGlite in `dataDir` (default ./.drover, created with mode 0700), locked to this process.
 * Errors: STORE_UNAVAILABLE (cannot connect / open), STATE_LOCKED (another live process holds the
 * data directory), STORE_MIGRATION.
 */
export async function openStore(opts: StoreOptions = {}): Promise<Db> {
  if (opts.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
    throw new DroverError(
      'STORE_UNAVAILABLE',
      `the database URL must start with postgres:// or postgresql://`,
      {
        details: { url: opts.databaseUrl.replace(/:[^:@/]*@/, ':***@') },
      },
    );
  }
  const db = opts.databaseUrl
    ? await openPgDb(opts.databaseUrl)
    : await openPgliteDb(opts.dataDir ?? DEFAULT_DATA_DIR, { shortLived: opts.shortLived === true });
  try {
    await migrate(db);
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
  return db;
}
