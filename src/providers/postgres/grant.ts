/**
 * @module providers/postgres/grant — `postgres.grant`: privileges of a role on a database, or on a schema
 * in it.
 *
 * On a database: CONNECT, CREATE, TEMPORARY (TEMP), ALL. On a schema: USAGE, CREATE, ALL.
 * id = `DATABASE[/SCHEMA]:ROLE` (a label; read and delete work from the properties). The set granted is
 * read back from the ACL (aclexplode), so a privilege revoked by hand shows as drift. GRANT is
 * idempotent, so a retried create is harmless.
 */
import { z } from 'zod';
import { defineType, sameValue } from '../define.ts';
import { ProviderError } from '../types.ts';
import type { Attributes, ProviderContext } from '../types.ts';
import { ident, isPgName, withClient } from './connection.ts';

const ON_DATABASE = ['CONNECT', 'CREATE', 'TEMPORARY'] as const;
const ON_SCHEMA = ['USAGE', 'CREATE'] as const;

const pgName = z.string().refine(isPgName, 'a PostgreSQL name: 1 to 63 bytes');
const schema = z
  .strictObject({
    role: pgName,
    database: pgName,
    schema: pgName.optional(),
    privileges: z.array(z.string().min(1)).min(1),
  })
  .superRefine((p, c) => {
    const allowed: readonly string[] =
      p.schema === undefined ? [...ON_DATABASE, 'TEMP', 'ALL'] : [...ON_SCHEMA, 'ALL'];
    p.privileges.forEach((priv, i) => {
      if (!allowed.includes(priv.toUpperCase())) {
        c.addIssue({
          code: 'custom',
          path: ['privileges', i],
          message: `on a ${p.schema === undefined ? 'database' : 'schema'} one of ${allowed.join(', ')}`,
        });
      }
    });
  });
type Props = z.infer<typeof schema>;

/** The concrete, sorted privilege set the configured list means ("ALL" expanded, "TEMP" spelt out). */
function wanted(props: Props): string[] {
  const all: readonly string[] = props.schema === undefined ? ON_DATABASE : ON_SCHEMA;
  const out = new Set<string>();
  for (const p of props.privileges.map((x) => x.toUpperCase())) {
    if (p === 'ALL') all.forEach((a) => out.add(a));
    else out.add(p === 'TEMP' ? 'TEMPORARY' : p);
  }
  return [...out].sort();
}

const idOf = (p: Props) => `${p.database}${p.schema === undefined ? '' : `/${p.schema}`}:${p.role}`;
const onWhat = (p: Props) =>
  p.schema === undefined ? `DATABASE ${ident(p.database)}` : `SCHEMA ${ident(p.schema)}`;

/** Gone database (3D000), schema (3F000) or role (42704): nothing is granted, nothing to revoke. */
function isGone(e: unknown): boolean {
  return (
    e instanceof ProviderError && (e.code === 'PG_3D000' || e.code === 'PG_3F000' || e.code === 'PG_42704')
  );
}

async function granted(ctx: ProviderContext, props: Props): Promise<string[] | null> {
  const sql =
    props.schema === undefined
      ? `SELECT a.privilege_type AS p FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a
           JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = $1 AND r.rolname = $2`
      : `SELECT a.privilege_type AS p FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
           JOIN pg_roles r ON r.oid = a.grantee WHERE n.nspname = $1 AND r.rolname = $2`;
  try {
    const rows = await withClient(
      ctx,
      props.database,
      `postgres.grant: read ${idOf(props)}`,
      async (c) => (await c.query<{ p: string }>(sql, [props.schema ?? props.database, props.role])).rows,
    );
    return [...new Set(rows.map((r) => r.p))].sort();
  } catch (e) {
    if (isGone(e)) return null;
    throw e;
  }
}

async function readGrant(ctx: ProviderContext, props: Props): Promise<Attributes | null> {
  const have = await granted(ctx, props);
  if (!have || have.length === 0) return null;
  // Report the configured spelling when the real set is what it means, so no drift shows for "ALL".
  const privileges = sameValue(have, wanted(props)) ? props.privileges : have;
  return { ...props, id: idOf(props), privileges };
}

async function apply(ctx: ProviderContext, props: Props, revokeFirst: boolean): Promise<Attributes> {
  await withClient(ctx, props.database, `postgres.grant: grant ${idOf(props)}`, async (c) => {
    await c.query('BEGIN');
    if (revokeFirst) await c.query(`REVOKE ALL ON ${onWhat(props)} FROM ${ident(props.role)}`);
    await c.query(`GRANT ${wanted(props).join(', ')} ON ${onWhat(props)} TO ${ident(props.role)}`);
    await c.query('COMMIT');
  });
  const now = await readGrant(ctx, props);
  if (!now)
    throw new ProviderError(
      `postgres.grant: ${idOf(props)} is not visible right after granting`,
      undefined,
      'NOT_FOUND',
    );
  return now;
}

export const postgresGrant = defineType<Props>({
  type: 'postgres.grant',
  description: 'Privileges of a role on a database, or on a schema in it.',
  schema,
  replaceOn: ['role', 'database', 'schema'],
  kind: 'infrastructure',
  read: (ctx, _id, props) => readGrant(ctx, props),
  create: (ctx, props) => apply(ctx, props, false),
  update: (ctx, _id, props) => apply(ctx, props, true),
  async delete(ctx, _id, prior) {
    const props = prior as unknown as Props;
    try {
      await withClient(ctx, props.database, `postgres.grant: revoke ${idOf(props)}`, (c) =>
        c.query(`REVOKE ALL ON ${onWhat(props)} FROM ${ident(props.role)}`),
      );
    } catch (e) {
      if (isGone(e)) return;
      throw e;
    }
  },
  async lookup(ctx, { props }) {
    const have = await granted(ctx, props);
    return have && wanted(props).every((p) => have.includes(p)) ? readGrant(ctx, props) : null;
  },
});
