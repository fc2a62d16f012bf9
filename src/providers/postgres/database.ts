/**
 * @module providers/postgres/database — `postgres.database`: a database on a PostgreSQL server.
 *
 * id = the name. A database has no client token; its name is its natural key: lookup (and a create that
 * meets "already exists") adopts a database of that name when its owner is the one asked for.
 */
import { z } from 'zod';
import { defineType } from '../define.ts';
import { ProviderError } from '../types.ts';
import type { Attributes, ProviderContext } from '../types.ts';
import { ident, isPgName, withClient } from './connection.ts';

const pgName = z.string().refine(isPgName, 'a PostgreSQL name: 1 to 63 bytes');
const schema = z.strictObject({ name: pgName, owner: pgName.optional() });
type Props = z.infer<typeof schema>;

async function readDb(ctx: ProviderContext, name: string, props: Props): Promise<Attributes | null> {
  const rows = await withClient(
    ctx,
    undefined,
    `postgres.database: read ${name}`,
    async (c) =>
      (
        await c.query<{ owner: string }>(
          'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
          [name],
        )
      ).rows,
  );
  const row = rows[0];
  return row ? { ...props, id: name, name, owner: row.owner } : null;
}

const ownerMatches = (found: Attributes, props: Props) =>
  props.owner === undefined || found.owner === props.owner;

export const postgresDatabase = defineType<Props>({
  type: 'postgres.database',
  description: 'A database on a PostgreSQL server (optionally owned by a role).',
  schema,
  replaceOn: ['name'],
  kind: 'infrastructure',
  read: (ctx, id, props) => readDb(ctx, id, props),
  async create(ctx, props) {
    try {
      // CREATE DATABASE cannot run in a transaction block and takes no parameters: quoted identifiers.
      await withClient(ctx, undefined, `postgres.database: create ${props.name}`, (c) =>
        c.query(`CREATE DATABASE ${ident(props.name)}${props.owner ? ` OWNER ${ident(props.owner)}` : ''}`),
      );
    } catch (e) {
      if (!(e instanceof ProviderError && e.code === 'PG_42P04')) throw e;
      // Already there: a retry after a lost answer, or a crashed earlier create. Adopt if it fits.
      const found = await readDb(ctx, props.name, props);
      if (!found || !ownerMatches(found, props))
        throw new ProviderError(
          `postgres.database: "${props.name}" exists with another owner`,
          undefined,
          'NAME_TAKEN',
        );
      return found;
    }
    const made = await readDb(ctx, props.name, props);
    if (!made)
      throw new ProviderError(
        `postgres.database: "${props.name}" vanished right after create`,
        undefined,
        'NOT_FOUND',
      );
    return made;
  },
  async update(ctx, id, props) {
    if (props.owner !== undefined) {
      await withClient(ctx, undefined, `postgres.database: update ${id}`, (c) =>
        c.query(`ALTER DATABASE ${ident(id)} OWNER TO ${ident(props.owner!)}`),
      );
    }
    const now = await readDb(ctx, id, props);
    if (!now) throw new ProviderError(`postgres.database: "${id}" no longer exists`, undefined, 'NOT_FOUND');
    return now;
  },
  async delete(ctx, id) {
    // Someone still connected → 55006 → TransientError: the engine retries while they disconnect.
    await withClient(ctx, undefined, `postgres.database: drop ${id}`, (c) =>
      c.query(`DROP DATABASE IF EXISTS ${ident(id)}`),
    );
  },
  async lookup(ctx, { props }) {
    const found = await readDb(ctx, props.name, props);
    return found && ownerMatches(found, props) ? found : null;
  },
});
