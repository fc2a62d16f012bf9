/**
 * @module store/types — the one small interface both stores implement (PGlite in the data directory,
 * `pg` for a real PostgreSQL server). SQL is PostgreSQL with `$1` parameters on both.
 */

export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'pg';
  /** Runs fn in one transaction (BEGIN … COMMIT, ROLLBACK on throw). */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Takes a named exclusive lock until `release()` — or until this process's database connection ends,
   * so a crashed holder never leaves it stuck. A second holder gets DroverError('STATE_LOCKED') at once
   * (local commands lock `state:FLOCK/TARGET`, so two of them never work on one target together).
   */
  lock(name: string): Promise<{ release(): Promise<void> }>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** A postgres:// URL; when set, the pg implementation is used. */
  readonly databaseUrl?: string;
  /** PGlite data directory (default ./.drover); the database lives in DATA_DIR/pgdata. */
  readonly dataDir?: string;
  /**
   * The process is short-lived (a CLI command, not a server): PGlite's WebAssembly runs as V8's
   * baseline compiler makes it, without the background re-compilation of hot functions that pays off
   * only in a long-running process, and its thread runs at a lower CPU priority than the event loop
   * (on Linux). No effect on PostgreSQL. See `pglite-db.ts`.
   */
  readonly shortLived?: boolean;
}
