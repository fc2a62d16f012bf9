/**
 * @module store/pglite-db — the embedded store: PGlite (PostgreSQL in WebAssembly) in DATA_DIR/pgdata.
 *
 * One process per data directory (see data-dir-lock.ts). PGlite runs one statement at a time; its
 * own mutex queues concurrent queries and transactions, so callers may issue them freely.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import { DroverError } from '../errors.ts';
import { acquireDataDirLock } from './data-dir-lock.ts';
import type { Db, QueryResult, Queryable } from './types.ts';

export const DEFAULT_DATA_DIR = './.drover';

interface PgliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<Results<T>>;
  exec(sql: string): Promise<Results[]>;
}

function toResult<R>(r: Results<R> | undefined): QueryResult<R> {
  if (!r) return { rows: [], rowCount: 0 };
  return { rows: r.rows, rowCount: r.rowCount ?? r.affectedRows ?? r.rows.length };
}

/**
 * Without parameters the simple protocol is used, as `pg` does: several statements may be sent at
 * once (migrations) and the last one's result is returned. With parameters, one statement.
 */
async function run<R>(pg: PgliteLike, sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
  if (!params || params.length === 0) {
    const all = await pg.exec(sql);
    return toResult(all[all.length - 1] as Results<R> | undefined);
  }
  return toResult(await pg.query<R>(sql, [...params]));
}

/** Opens (creating if need be) the PGlite database of a data directory. */
export async function openPgliteDb(dataDir: string = DEFAULT_DATA_DIR): Promise<Db> {
  const dir = resolve(dataDir);
  try {
    // 0700: the directory holds the state and, for a server, its admin token.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DroverError(
      'STORE_UNAVAILABLE',
      `cannot create the data directory ${dir}: ${(e as Error).message}`,
      {
        details: { dataDir: dir },
        cause: e,
      },
    );
  }
  const lock = acquireDataDirLock(dir);
  let pg: PGlite;
  try {
    pg = await PGlite.create(join(dir, 'pgdata'));
  } catch (e) {
    lock.release();
    const reason = e instanceof Error ? e.message : String(e);
    throw new DroverError(
      'STORE_UNAVAILABLE',
      `cannot open the embedded database in ${dir}/pgdata: ${reason}`,
      {
        details: { dataDir: dir },
        cause: e,
      },
    );
  }
  return new PgliteDb(pg, lock.release, dir);
}

class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  #closed = false;

  constructor(
    private readonly pg: PGlite,
    private readonly releaseLock: () => void,
    readonly dataDir: string,
  ) {}

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    return run<R>(this.pg, sql, params);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    // Inside fn, use tx only: a query on the Db itself would wait for this transaction to end.
    return this.pg.transaction((tx: Transaction) =>
      fn({ query: <R>(sql: string, params?: readonly unknown[]) => run<R>(tx, sql, params) }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.pg.close();
    } finally {
      this.releaseLock();
    }
  }
}
