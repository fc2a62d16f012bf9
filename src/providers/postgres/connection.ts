/**
 * @module providers/postgres/connection — one short-lived connection per operation, errors mapped for
 * the engine.
 *
 * These types use the `pg` package directly: a database connection is not HTTP, so it cannot go through
 * ctx.http and the signing proxy. Under a worker whose sandbox has no network (SPEC §5 "Sandbox") the
 * connection is refused, and postgres.* resources then need a host where the sandbox allows it. The URL
 * comes from the flock (`providers: { postgres: { url: "${env.DATABASE_URL}" } }`), never from this
 * module reading the environment.
 */
import pg from 'pg';
import { ProviderError, TransientError } from '../types.ts';
import type { ProviderContext } from '../types.ts';

export type PgClient = pg.Client;

/** Identifier quoting ("my name" → `"my name"`), never string pasting. */
export const ident = (name: string): string => pg.escapeIdentifier(name);
export const literal = (text: string): string => pg.escapeLiteral(text);

/** SQLSTATEs worth retrying: connection loss, server starting or shutting down, resources, conflicts. */
function isTransientSqlState(code: string): boolean {
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('53') || // insufficient resources (too many connections, out of memory)
    code === '57P01' || // admin shutdown
    code === '57P02' || // crash shutdown
    code === '57P03' || // cannot connect now (starting up)
    code === '40001' || // serialization failure
    code === '40P01' || // deadlock
    code === '55006' || // object in use (DROP DATABASE while someone is connected)
    code === '55P03' // lock not available
  );
}

const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

/** The SQLSTATE or errno of a pg error. */
export function pgCode(e: unknown): string | undefined {
  return e !== null && typeof e === 'object' && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

export function pgError(e: unknown, what: string): TransientError | ProviderError {
  if (e instanceof TransientError || e instanceof ProviderError) return e;
  const code = pgCode(e);
  const message = `${what}: ${e instanceof Error ? e.message : String(e)}${code ? ` (${code})` : ''}`;
  const lostConnection = e instanceof Error && /Connection terminated|timeout expired/i.test(e.message);
  if ((code && (isTransientSqlState(code) || TRANSIENT_ERRNO.has(code))) || (!code && lostConnection)) {
    return new TransientError(message);
  }
  return new ProviderError(message, undefined, code ? `PG_${code}` : 'PG_ERROR');
}

/** The provider's URL, pointed at `database` when given. */
export function connectionUrl(ctx: ProviderContext, database?: string): string {
  const url = ctx.config.url;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
    throw new ProviderError(
      'postgres: the provider needs `providers: { postgres: { url: "postgres://…" } }`',
      undefined,
      'PROVIDER_CONFIG',
    );
  }
  if (database === undefined) return url;
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** Connect timeout: long enough for a busy server, short enough that the engine's retry takes over. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Runs `fn` on a fresh connection (to `database` when given) and always closes it. Cancellation
 * (ctx.signal) ends the connection, which aborts the statement in flight.
 */
export async function withClient<T>(
  ctx: ProviderContext,
  database: string | undefined,
  what: string,
  fn: (c: PgClient) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    connectionString: connectionUrl(ctx, database),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'drover',
  });
  // An error event after connect (server gone) must not crash the process; the query in flight rejects.
  client.on('error', () => {});
  const onAbort = () => void client.end().catch(() => {});
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (ctx.signal.aborted) throw new ProviderError(`${what}: cancelled`, undefined, 'ABORTED');
    await client.connect();
    return await fn(client);
  } catch (e) {
    throw pgError(e, what);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}

/** pg identifiers: at most 63 bytes, no NUL. */
export function isPgName(s: string): boolean {
  return s.length > 0 && Buffer.byteLength(s) <= 63 && !s.includes('\u0000');
}
