/**
 * @module store/connection-error — "the database could not be reached", as opposed to an error in the
 * SQL. One definition for the store (which turns it into STORE_UNAVAILABLE), the scheduler (which renews
 * leases once the database is back, rather than expiring workers for an outage) and the API (503).
 */

/** Error codes of an unreachable database: the socket's, and PostgreSQL's shutdown / class 08 ones. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'STORE_UNAVAILABLE', // already classified by the store
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** True when e (or an error it was caused by, up to 8 deep) says the database could not be reached. */
export function isConnectionError(e: unknown, depth = 0): boolean {
  if (e === null || typeof e !== 'object' || depth > 8) return false;
  const err = e as { code?: unknown; message?: unknown; cause?: unknown };
  const code = err.code;
  if (typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)))
    return true;
  if (
    typeof err.message === 'string' &&
    /Connection terminated|connection is closed|connection error|timeout exceeded when trying to connect/i.test(
      err.message,
    )
  )
    return true;
  return err.cause !== undefined ? isConnectionError(err.cause, depth + 1) : false;
}
