/**
 * @module providers/postgres/role — `postgres.role`: a role (user) on a PostgreSQL server.
 *
 * id = the name; the name is the natural key (a role left behind by a crashed create is adopted, not a
 * blocker). The password cannot be read back: attributes repeat the configured one.
 */
import { z } from 'zod';
import { defineType } from '../define.ts';
import { ProviderError } from '../types.ts';
import type { Attributes, ProviderContext } from '../types.ts';
import { ident, isPgName, literal, withClient } from './connection.ts';
import type { PgClient } from './connection.ts';

const schema = z.strictObject({
  name: z.string().refine(isPgName, 'a PostgreSQL name: 1 to 63 bytes'),
  login: z.boolean().optional(),
  password: z.string().optional(),
});
type Props = z.infer<typeof schema>;

async function readRole(ctx: ProviderContext, name: string, props: Props): Promise<Attributes | null> {
  const rows = await withClient(
    ctx,
    undefined,
    `postgres.role: read ${name}`,
    async (c) =>
      (
        await c.query<{ login: boolean }>('SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = $1', [
          name,
        ])
      ).rows,
  );
  const row = rows[0];
  return row ? { ...props, id: name, name, login: row.login } : null;
}

/** LOGIN/NOLOGIN and PASSWORD; utility statements take no parameters, so the password is a quoted literal. */
function options(props: Props): string {
  const login = props.login === true ? 'LOGIN' : 'NOLOGIN';
  const password = props.password === undefined ? 'PASSWORD NULL' : `PASSWORD ${literal(props.password)}`;
  return `${login} ${password}`;
}

const alter = (c: PgClient, name: string, props: Props) =>
  c.query(`ALTER ROLE ${ident(name)} WITH ${options(props)}`);

export const postgresRole = defineType<Props>({
  type: 'postgres.role',
  description: 'A role on a PostgreSQL server, optionally able to log in with a password.',
  schema,
  replaceOn: ['name'],
  kind: 'infrastructure',
  read: (ctx, id, props) => readRole(ctx, id, props),
  async create(ctx, props) {
    try {
      await withClient(ctx, undefined, `postgres.role: create ${props.name}`, (c) =>
        c.query(`CREATE ROLE ${ident(props.name)} WITH ${options(props)}`),
      );
    } catch (e) {
      if (!(e instanceof ProviderError && e.code === 'PG_42710')) throw e;
      // The name is taken: a retry after a lost answer or a crashed earlier create. Adopt it when its
      // login matches, and set the password we were asked for.
      const found = await readRole(ctx, props.name, props);
      if (!found || found.login !== (props.login === true))
        throw new ProviderError(
          `postgres.role: "${props.name}" exists with other settings`,
          undefined,
          'NAME_TAKEN',
        );
      await withClient(ctx, undefined, `postgres.role: adopt ${props.name}`, (c) =>
        alter(c, props.name, props),
      );
    }
    const made = await readRole(ctx, props.name, props);
    if (!made)
      throw new ProviderError(
        `postgres.role: "${props.name}" vanished right after create`,
        undefined,
        'NOT_FOUND',
      );
    return made;
  },
  async update(ctx, id, props) {
    await withClient(ctx, undefined, `postgres.role: update ${id}`, (c) => alter(c, id, props));
    const now = await readRole(ctx, id, props);
    if (!now) throw new ProviderError(`postgres.role: "${id}" no longer exists`, undefined, 'NOT_FOUND');
    return now;
  },
  async delete(ctx, id) {
    // A role that still owns objects or holds privileges fails with PG_2BP01: those are not ours to drop.
    await withClient(ctx, undefined, `postgres.role: drop ${id}`, (c) =>
      c.query(`DROP ROLE IF EXISTS ${ident(id)}`),
    );
  },
  async lookup(ctx, { props }) {
    const found = await readRole(ctx, props.name, props);
    return found && found.login === (props.login === true) ? found : null;
  },
});
