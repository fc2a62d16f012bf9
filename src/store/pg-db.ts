/**
 * @module store/pg-db — the server store: a `pg` Pool on a real PostgreSQL (DATABASE_URL).
 *
 * Several Drover processes may share one database; everything that must be serialised across them
 * does so in SQL (row locks, advisory locks), never in this process.
 */
import pg from 'pg';
import { DroverError } from '../errors.ts';
import { isConnectionError } from './connection-error.ts';
import type { Db, QueryResult, Queryable } from './types.ts';

const { Pool, types } = pg;

/** The URL with its password masked, fit for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Not a URL we can parse: show nothing that could be a secret.
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/**
 * Both stores return the same JS types: int8 (count(*), serials) as number, as PGlite does — our
 * values stay far below 2^53; numeric as string; json/jsonb parsed; timestamptz as Date.
 */
const INT8_OID = 20;
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v);
    return types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
  },
} as pg.CustomTypesConfig;

function unavailable(url: string, e: unknown): DroverError {
  const reason = e instanceof Error ? e.message || (e as { code?: string }).code || e.name : String(e);
  return new DroverError('STORE_UNAVAILABLE', `cannot reach PostgreSQL at ${redactUrl(url)}: ${reason}`, {
    details: { url: redactUrl(url) },
    cause: e,
  });
}

export interface PgDbOptions {
  /** Pool size (default 10). */
  readonly max?: number;
}

/** Connects to the database at url; fails with STORE_UNAVAILABLE if it cannot. */
export async function openPgDb(url: string, opts: PgDbOptions = {}): Promise<Db> {
  let pool: pg.Pool;
  try {
    pool = new Pool({
      connectionString: url,
      max: opts.max ?? 10,
      connectionTimeoutMillis: 10_000,
      types: typeParsers,
    });
  } catch (e) {
    throw unavailable(url, e);
  }
  // An idle client losing its connection emits 'error' on the pool; unhandled, it would kill the
  // process. The next query gets a fresh client or a clear STORE_UNAVAILABLE.
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => {});
    throw unavailable(url, e);
  }
  return new PgDb(pool, url);
}

function toResult<R>(r: pg.QueryResult | pg.QueryResult[]): QueryResult<R> {
  // Several statements in one simple query yield one result each: return the last, as PGlite does.
  const last = Array.isArray(r) ? r[r.length - 1] : r;
  if (!last) return { rows: [], rowCount: 0 };
  return { rows: last.rows as R[], rowCount: last.rowCount ?? last.rows.length };
}

class PgDb implements Db {
  readonly kind = 'pg' as const;
  #closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
  ) {}

  async query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    try {
      const r =
        params && params.length > 0 ? await this.pool.query(sql, [...params]) : await this.pool.query(sql);
      return toResult<R>(r);
    } catch (e) {
      throw isConnectionError(e) ? unavailable(this.url, e) : e;
    }
  }

  async lock(name: string): Promise<{ release(): Promise<void> }> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw unavailable(this.url, e);
    }
    // A session-level advisory lock on a connection held for the lock's lifetime: PostgreSQL drops it
    // by itself when that connection ends (a killed process never leaves it behind).
    let got = false;
    try {
      const r = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
        [name],
      );
      got = r.rows[0]?.ok === true;
    } catch (e) {
      client.release(true);
      throw isConnectionError(e) ? unavailable(this.url, e) : e;
    }
    if (!got) {
      client.release();
      throw new DroverError(
        'STATE_LOCKED',
        `${name} is in use by another process (lock held on the database)`,
        {
          details: { lock: name },
        },
      );
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        try {
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]);
          client.release();
        } catch {
          client.release(true); // dropping the connection drops the lock
        }
      },
    };
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw unavailable(this.url, e);
    }
    const tx: Queryable = {
      query: async <R>(sql: string, params?: readonly unknown[]) =>
        toResult<R>(
          params && params.length > 0 ? await client.query(sql, [...params]) : await client.query(sql),
        ),
    };
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is gone or unusable: destroy it rather than return it to the pool.
        broken = rollbackError;
      }
      throw isConnectionError(e) ? unavailable(this.url, e) : e;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }
}
