import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { testContext } from '../testing.ts';
import { ProviderError, TransientError } from '../types.ts';
import { postgresDatabase, postgresGrant, postgresRole, postgresSchema } from './index.ts';

const PG_URL = process.env.DROVER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function reachable(url: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await c.end().catch(() => {});
  }
}

const unreachable = await reachable(PG_URL);
if (unreachable)
  console.warn(
    `postgres.* provider tests SKIPPED: no PostgreSQL at ${PG_URL} (${unreachable}); set DROVER_TEST_PG_URL`,
  );

const suffix = randomBytes(4).toString('hex');
const name = (what: string) => `drover_t_${what}_${suffix}`;
const ctx = testContext({ config: { url: PG_URL } });
const key = { idempotencyKey: 'k' };

/** Everything a test made, dropped at the end even when a test failed half-way. */
const made = { dbs: new Set<string>(), roles: new Set<string>() };
afterAll(async () => {
  if (unreachable) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const db of made.dbs) await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`);
  for (const r of made.roles) await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(r)}`);
  await c.end();
});

async function query(sql: string, params: unknown[] = [], database?: string) {
  const url = new URL(PG_URL);
  if (database) url.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

describe.skipIf(unreachable !== undefined)('postgres.* on a real server', () => {
  it('role: create (with a hostile name), read, update login and password, adopt, drop', async () => {
    const n = `${name('role')} "x"`;
    made.roles.add(n);
    const a = await postgresRole.create(ctx, { name: n, login: true, password: 's3cr3t' }, key);
    expect(a).toMatchObject({ id: n, name: n, login: true });
    // the password is set (the test server may trust 127.0.0.1, so check the catalog, not a login)
    const hasPassword = async () =>
      (await query('SELECT rolpassword IS NOT NULL AS has FROM pg_authid WHERE rolname = $1', [n]))[0]?.has;
    expect(await hasPassword()).toBe(true);

    const b = await postgresRole.update!(ctx, n, { name: n, login: false }, a);
    expect(b.login).toBe(false);
    expect(await hasPassword()).toBe(false);
    expect(await postgresRole.read(ctx, n, { name: n })).toMatchObject({ login: false });

    // A second create of the same name adopts it when the settings match, refuses otherwise.
    await expect(postgresRole.create(ctx, { name: n }, key)).resolves.toMatchObject({ id: n });
    await expect(postgresRole.create(ctx, { name: n, login: true }, key)).rejects.toMatchObject({
      code: 'NAME_TAKEN',
    });
    expect(await postgresRole.lookup(ctx, { idempotencyKey: 'x', props: { name: n } })).toMatchObject({
      id: n,
    });

    await postgresRole.delete(ctx, n, b);
    expect(await postgresRole.read(ctx, n, { name: n })).toBeNull();
    await postgresRole.delete(ctx, n, b);
    expect(await postgresRole.lookup(ctx, { idempotencyKey: 'x', props: { name: n } })).toBeNull();
  });

  it('database, schema and grants: full lifecycle with drift', async () => {
    const owner = name('owner');
    const app = name('app');
    const db = name('db');
    made.roles.add(owner).add(app);
    made.dbs.add(db);
    await postgresRole.create(ctx, { name: owner }, key);
    await postgresRole.create(ctx, { name: app, login: true }, key);

    const d = await postgresDatabase.create(ctx, { name: db }, key);
    expect(d).toMatchObject({ id: db, name: db });
    const d2 = await postgresDatabase.update!(ctx, db, { name: db, owner }, d);
    expect(d2.owner).toBe(owner);
    expect(
      await postgresDatabase.lookup(ctx, { idempotencyKey: 'x', props: { name: db, owner } }),
    ).toMatchObject({ id: db });
    expect(
      await postgresDatabase.lookup(ctx, { idempotencyKey: 'x', props: { name: db, owner: app } }),
    ).toBeNull();
    // create again: adopted (same owner)
    await expect(postgresDatabase.create(ctx, { name: db, owner }, key)).resolves.toMatchObject({ id: db });

    const sProps = { name: 'billing', database: db, owner };
    const s = await postgresSchema.create(ctx, sProps, key);
    expect(s).toMatchObject({ id: `${db}/billing`, owner });
    expect(await query('SELECT nspname FROM pg_namespace WHERE nspname = $1', ['billing'], db)).toHaveLength(
      1,
    );

    const gDb = { role: app, database: db, privileges: ['CONNECT', 'temp'] };
    expect(postgresGrant.schema.safeParse(gDb).success).toBe(true);
    expect(postgresGrant.schema.safeParse({ ...gDb, privileges: ['USAGE'] }).success).toBe(false);
    const g1 = await postgresGrant.create(ctx, gDb, key);
    expect(g1.privileges).toEqual(['CONNECT', 'temp']);

    const gS = { role: app, database: db, schema: 'billing', privileges: ['ALL'] };
    const g2 = await postgresGrant.create(ctx, gS, key);
    expect(g2.privileges).toEqual(['ALL']);
    expect(await query(`SELECT has_schema_privilege($1, 'billing', 'USAGE') AS ok`, [app], db)).toEqual([
      { ok: true },
    ]);

    // drift: revoke CREATE by hand → read reports the real set
    await query(`REVOKE CREATE ON SCHEMA billing FROM ${pg.escapeIdentifier(app)}`, [], db);
    expect((await postgresGrant.read(ctx, String(g2.id), gS))?.privileges).toEqual(['USAGE']);
    // update narrows the database grant to CONNECT only
    const g3 = await postgresGrant.update!(ctx, String(g1.id), { ...gDb, privileges: ['CONNECT'] }, g1);
    expect(g3.privileges).toEqual(['CONNECT']);

    await postgresGrant.delete(ctx, String(g2.id), g2);
    expect(await postgresGrant.read(ctx, String(g2.id), gS)).toBeNull();
    await postgresGrant.delete(ctx, String(g1.id), g3);
    expect(await postgresGrant.read(ctx, String(g1.id), gDb)).toBeNull();

    // a schema holding a table is not dropped (RESTRICT): data is not lost
    await query('CREATE TABLE billing.invoices (id int)', [], db);
    await expect(postgresSchema.delete(ctx, String(s.id), s)).rejects.toMatchObject({ code: 'PG_2BP01' });
    await query('DROP TABLE billing.invoices', [], db);
    await postgresSchema.delete(ctx, String(s.id), s);
    expect(await postgresSchema.read(ctx, String(s.id), sProps)).toBeNull();

    await postgresDatabase.delete(ctx, db, d2);
    expect(await postgresDatabase.read(ctx, db, { name: db })).toBeNull();
    await postgresDatabase.delete(ctx, db, d2);
    // schema and grant in a database that is gone: read null, delete fine
    expect(await postgresSchema.read(ctx, String(s.id), sProps)).toBeNull();
    await postgresSchema.delete(ctx, String(s.id), s);
    expect(await postgresGrant.read(ctx, 'x', gDb)).toBeNull();
    await postgresGrant.delete(ctx, 'x', g1);

    await postgresRole.delete(ctx, app, { id: app });
    await postgresRole.delete(ctx, owner, { id: owner });
  });

  it('maps errors: missing url → PROVIDER_CONFIG, refused connection → TransientError, bad name → ProviderError', async () => {
    await expect(postgresRole.read(testContext(), 'x', { name: 'x' })).rejects.toMatchObject({
      code: 'PROVIDER_CONFIG',
    });
    const refused = testContext({ config: { url: 'postgres://postgres@127.0.0.1:1/postgres' } });
    await expect(postgresRole.read(refused, 'x', { name: 'x' })).rejects.toBeInstanceOf(TransientError);
    await expect(
      postgresDatabase.create(ctx, { name: 'x', owner: name('nobody') }, key),
    ).rejects.toBeInstanceOf(ProviderError);
  });
});
