/**
 * The migration runner on the store of this run, plus (with DATABASE_URL) several processes' worth of
 * pools migrating one fresh PostgreSQL database at once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openTestDb, withDatabase, type TestDb } from '../../test/helpers/db.ts';
import { DroverError } from '../errors.ts';
import { loadMigrations, migrate } from './migrate.ts';
import { openPgDb } from './pg-db.ts';
import { DbStateBackend } from './state-store.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function testDb(): Promise<TestDb> {
  const t = await openTestDb();
  cleanups.push(() => t.cleanup());
  return t;
}

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'drover-migrations-'));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('loadMigrations', () => {
  it('finds the shipped migrations, 0001_state first, numbers strictly increasing', () => {
    const ms = loadMigrations();
    expect(ms[0]?.name).toBe('0001_state');
    for (let i = 1; i < ms.length; i++) expect(ms[i]!.version).toBeGreaterThan(ms[i - 1]!.version);
  });

  it('orders by number, ignores other files, refuses two files with one number', () => {
    const dir = migrationsDir({
      '0010_later.sql': 'SELECT 1',
      '0002_early.sql': 'SELECT 1',
      'README.md': '',
      '0003_draft.sql.bak': '',
    });
    expect(loadMigrations(dir).map((m) => m.name)).toEqual(['0002_early', '0010_later']);
    const dup = migrationsDir({ '0001_a.sql': '', '0001_b.sql': '' });
    expect(() => loadMigrations(dup)).toThrow(DroverError);
    try {
      loadMigrations(dup);
    } catch (e) {
      expect((e as DroverError).code).toBe('STORE_MIGRATION');
    }
  });
});

describe('migrate', () => {
  it('is idempotent: a second run applies nothing and the history holds each migration once', async () => {
    const { db } = await testDb(); // openStore migrated already
    expect(await migrate(db)).toEqual([]);
    expect(await migrate(db)).toEqual([]);
    const { rows } = await db.query<{ version: number; name: string }>(
      'SELECT version, name FROM drover_migrations ORDER BY version',
    );
    expect(rows.map((r) => r.name)).toEqual(loadMigrations().map((m) => m.name));
  });

  it('0007 fills the load text of rows written before it', async () => {
    const { db } = await testDb();
    // Back to the schema before 0007, with a resource written then.
    await db.query(`DROP TRIGGER drover_resource_load_text ON drover_state_resources;
      DROP FUNCTION drover_resource_load_text();
      ALTER TABLE drover_state_resources DROP COLUMN load_text;
      DELETE FROM drover_migrations WHERE name = '0007_state_load_text'`);
    const r = {
      address: 'old',
      type: 'sim.bucket',
      id: 'b "1"',
      properties: { name: 'old' },
      attributes: { id: 'b "1"' },
      dependencies: ['x'],
    };
    await new DbStateBackend(db).commit('f', 't', { kind: 'put', resource: r, action: 'create' });
    expect(await migrate(db)).toEqual(['0007_state_load_text']);
    const { rows } = await db.query<{ load_text: string }>('SELECT load_text FROM drover_state_resources');
    expect(JSON.parse(rows[0]!.load_text)).toEqual([
      'old',
      'sim.bucket',
      'b "1"',
      { name: 'old' },
      ['x'],
      null,
      null,
      null,
    ]);
    expect((await new DbStateBackend(db).load('f', 't')).resources.get('old')).toEqual(r);
  });

  it('applies new migrations in order, each with several statements, and records them', async () => {
    const { db } = await testDb();
    const dir = migrationsDir({
      '9002_second.sql': "INSERT INTO t_mig (v) VALUES ('second');",
      '9001_first.sql':
        "CREATE TABLE t_mig (n serial PRIMARY KEY, v text);\nINSERT INTO t_mig (v) VALUES ('first');",
    });
    expect(await migrate(db, loadMigrations(dir))).toEqual(['9001_first', '9002_second']);
    expect((await db.query<{ v: string }>('SELECT v FROM t_mig ORDER BY n')).rows.map((r) => r.v)).toEqual([
      'first',
      'second',
    ]);
    expect(await migrate(db, loadMigrations(dir))).toEqual([]);
  });

  it('rolls a failing migration back whole, keeps the ones before it, and says which failed', async () => {
    const { db } = await testDb();
    const dir = migrationsDir({
      '9001_ok.sql': 'CREATE TABLE t_ok (a int);',
      '9002_bad.sql': 'CREATE TABLE t_half (a int);\nSELECT no_such_function();',
      '9003_never.sql': 'CREATE TABLE t_never (a int);',
    });
    const e = await migrate(db, loadMigrations(dir)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DroverError);
    expect((e as DroverError).code).toBe('STORE_MIGRATION');
    expect((e as DroverError).message).toContain('9002_bad');
    const tables = await db.query<{ t: string }>(
      "SELECT tablename AS t FROM pg_tables WHERE tablename IN ('t_ok', 't_half', 't_never')",
    );
    expect(tables.rows.map((r) => r.t)).toEqual(['t_ok']);
    const recorded = await db.query<{ name: string }>(
      'SELECT name FROM drover_migrations WHERE version > 9000',
    );
    expect(recorded.rows.map((r) => r.name)).toEqual(['9001_ok']);
  });

  it('runs safely when called concurrently on one store', async () => {
    const { db } = await testDb();
    const dir = migrationsDir({ '9001_once.sql': 'CREATE TABLE t_once (a int);' });
    const results = await Promise.all([1, 2, 3, 4].map(() => migrate(db, loadMigrations(dir))));
    expect(results.flat()).toEqual(['9001_once']);
  });
});

const adminUrl = process.env['DATABASE_URL'];

describe.skipIf(!adminUrl)('migrate on PostgreSQL from several pools at once', () => {
  it('applies every migration exactly once on a fresh database', async () => {
    const name = `drover_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    });
    // Each pool stands for a server process starting at the same moment.
    const dbs = await Promise.all(
      [1, 2, 3, 4, 5].map(() => openPgDb(withDatabase(adminUrl!, name), { max: 2 })),
    );
    cleanups.push(async () => {
      await Promise.all(dbs.map((d) => d.close()));
    });
    const results = await Promise.all(dbs.map((d) => migrate(d)));
    expect(results.flat().sort()).toEqual(loadMigrations().map((m) => m.name));
    const { rows } = await dbs[0]!.query<{ n: number }>('SELECT count(*) AS n FROM drover_migrations');
    expect(rows[0]!.n).toBe(loadMigrations().length);
  });
});
