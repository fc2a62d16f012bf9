/**
 * @module test/helpers/db — a fresh, migrated database for one test, on whichever store the run uses:
 * with DATABASE_URL, a new database `drover_test_<random>` on that server (dropped on cleanup);
 * otherwise PGlite in a new temp directory. So one suite runs against both stores.
 *
 * PGlite's initdb takes seconds; the first call in a run builds a migrated template data directory
 * (keyed by the PGlite version and the migrations' content) and later calls copy it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadMigrations, openStore } from '../../src/store/index.ts';
import type { Db } from '../../src/store/index.ts';

export interface TestDb {
  readonly db: Db;
  /** pg only: the URL of the fresh database (for child processes). */
  readonly url?: string;
  /** PGlite only: the data directory. Close `db` before a child process opens it (one process per directory). */
  readonly dataDir?: string;
  /** Closes the store and drops the database / removes the directory. Idempotent. */
  cleanup(): Promise<void>;
}

export async function openTestDb(opts: { readonly shortLived?: boolean } = {}): Promise<TestDb> {
  const adminUrl = process.env['DATABASE_URL'];
  return adminUrl ? openPgTestDb(adminUrl) : openPgliteTestDb(opts);
}

/** `postgres://…/anything` with its database replaced by `name`. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function openPgTestDb(adminUrl: string): Promise<TestDb> {
  const name = `drover_test_${randomBytes(6).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(adminUrl, name);
  let db: Db;
  try {
    db = await openStore({ databaseUrl: url });
  } catch (e) {
    await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name}`));
    throw e;
  }
  let done = false;
  return {
    db,
    url,
    async cleanup() {
      if (done) return;
      done = true;
      await db.close();
      // FORCE: a test that leaked a connection must not leak the database too.
      await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

function templateKey(): string {
  // The package's exports hide package.json; find it from its resolved entry point instead.
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  const pkg = join(
    entry.slice(0, entry.lastIndexOf('/node_modules/@electric-sql/pglite/')),
    'node_modules/@electric-sql/pglite/package.json',
  );
  const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  const h = createHash('sha256').update(version);
  for (const m of loadMigrations()) h.update(m.name).update('\0').update(m.sql);
  return h.digest('hex').slice(0, 16);
}

let template: Promise<string> | undefined;

/** A migrated PGlite data directory to copy from, built once per migrations version (across runs too). */
function pgliteTemplate(): Promise<string> {
  template ??= (async () => {
    const dir = join(tmpdir(), `drover-test-pglite-${templateKey()}`);
    if (existsSync(join(dir, 'pgdata'))) return dir;
    const building = mkdtempSync(join(tmpdir(), 'drover-test-pglite-build-'));
    try {
      const db = await openStore({ dataDir: building });
      await db.close();
      // Atomic publish; if a parallel worker won the race, keep theirs.
      renameSync(building, dir);
    } catch (e) {
      rmSync(building, { recursive: true, force: true });
      if (!existsSync(join(dir, 'pgdata'))) throw e;
    }
    return dir;
  })();
  return template;
}

/**
 * A new data directory holding a migrated, empty PGlite database, not opened (for tests that open it
 * themselves, e.g. in a child process). The caller removes it.
 */
export async function freshPgliteDataDir(): Promise<string> {
  const source = await pgliteTemplate();
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-test-db-'));
  cpSync(join(source, 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
  return dataDir;
}

async function openPgliteTestDb(opts: { readonly shortLived?: boolean }): Promise<TestDb> {
  const dataDir = await freshPgliteDataDir();
  let db: Db;
  try {
    db = await openStore({ dataDir, ...opts });
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  let done = false;
  return {
    db,
    dataDir,
    async cleanup() {
      if (done) return;
      done = true;
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
