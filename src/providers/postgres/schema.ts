/**
 * @module providers/postgres/schema — `postgres.schema`: a schema in a database.
 *
 * id = `DATABASE/NAME` (a label: read and delete work from the recorded properties, so names may hold
 * any character). A missing database reads as a missing schema.
 */
import { z } from 'zod';
import { defineType } from '../define.ts';
import { ProviderError } from '../types.ts';
import type { Attributes, ProviderContext } from '../types.ts';
import { ident, isPgName, withClient } from './connection.ts';

const pgName = z.string().refine(isPgName, 'a PostgreSQL name: 1 to 63 bytes');
const schema = z.strictObject({ name: pgName, database: pgName, owner: pgName.optional() });
type Props = z.infer<typeof schema>;

const idOf = (p: { database: string; name: string }) => `${p.database}/${p.name}`;

function isGone(e: unknown): boolean {
  return e instanceof ProviderError && e.code === 'PG_3D000'; // invalid_catalog_name: no such database
}

async function readSchema(ctx: ProviderContext, props: Props): Promise<Attributes | null> {
  try {
    const rows = await withClient(
      ctx,
      props.database,
      `postgres.schema: read ${idOf(props)}`,
      async (c) =>
        (
          await c.query<{ owner: string }>(
            'SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1',
            [props.name],
          )
        ).rows,
    );
    const row = rows[0];
    return row ? { ...props, id: idOf(props), owner: row.owner } : null;
  } catch (e) {
    if (isGone(e)) return null;
    throw e;
  }
}

const ownerMatches = (found: Attributes, props: Props) =>
  props.owner === undefined || found.owner === props.owner;

export const postgresSchema = defineType<Props>({
  type: 'postgres.schema',
  description: 'A schema in a database on a PostgreSQL server (optionally owned by a role).',
  schema,
  replaceOn: ['name', 'database'],
  kind: 'infrastructure',
  read: (ctx, _id, props) => readSchema(ctx, props),
  async create(ctx, props) {
    try {
      await withClient(ctx, props.database, `postgres.schema: create ${idOf(props)}`, (c) =>
        c.query(
          `CREATE SCHEMA ${ident(props.name)}${props.owner ? ` AUTHORIZATION ${ident(props.owner)}` : ''}`,
        ),
      );
    } catch (e) {
      if (!(e instanceof ProviderError && e.code === 'PG_42P06')) throw e;
      const found = await readSchema(ctx, props);
      if (!found || !ownerMatches(found, props))
        throw new ProviderError(
          `postgres.schema: "${idOf(props)}" exists with another owner`,
          undefined,
          'NAME_TAKEN',
        );
      return found;
    }
    const made = await readSchema(ctx, props);
    if (!made)
      throw new ProviderError(
        `postgres.schema: "${idOf(props)}" vanished right after create`,
        undefined,
        'NOT_FOUND',
      );
    return made;
  },
  async update(ctx, _id, props) {
    if (props.owner !== undefined) {
      await withClient(ctx, props.database, `postgres.schema: update ${idOf(props)}`, (c) =>
        c.query(`ALTER SCHEMA ${ident(props.name)} OWNER TO ${ident(props.owner!)}`),
      );
    }
    const now = await readSchema(ctx, props);
    if (!now)
      throw new ProviderError(`postgres.schema: "${idOf(props)}" no longer exists`, undefined, 'NOT_FOUND');
    return now;
  },
  async delete(ctx, _id, prior) {
    const database = String(prior.database);
    const name = String(prior.name);
    try {
      // RESTRICT (the default): a schema that still holds tables fails with PG_2BP01 rather than losing data.
      await withClient(ctx, database, `postgres.schema: drop ${database}/${name}`, (c) =>
        c.query(`DROP SCHEMA IF EXISTS ${ident(name)}`),
      );
    } catch (e) {
      if (isGone(e)) return;
      throw e;
    }
  },
  async lookup(ctx, { props }) {
    const found = await readSchema(ctx, props);
    return found && ownerMatches(found, props) ? found : null;
  },
});
