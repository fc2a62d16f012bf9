import { describe, expect, it } from 'vitest';
import { DroverError } from '../errors.ts';
import { isConnectionError } from './connection-error.ts';

const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('isConnectionError', () => {
  it('knows an unreachable database by socket code, PostgreSQL class 08 / shutdown codes, or message', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      '57P01',
      '53300',
      '08006',
      '08P01',
    ])
      expect(isConnectionError(withCode(code)), code).toBe(true);
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionError(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isConnectionError(new DroverError('STORE_UNAVAILABLE', 'cannot reach PostgreSQL'))).toBe(true);
  });

  it('follows the cause chain, and tells an error in the SQL apart', () => {
    expect(isConnectionError(new Error('request failed', { cause: withCode('ECONNREFUSED') }))).toBe(true);
    expect(isConnectionError(withCode('23505', 'duplicate key value violates unique constraint'))).toBe(
      false,
    );
    expect(isConnectionError(withCode('42P01', 'relation "x" does not exist'))).toBe(false);
    expect(isConnectionError(new DroverError('INTERNAL', 'boom'))).toBe(false);
    expect(isConnectionError(null)).toBe(false);
    expect(isConnectionError('ECONNREFUSED')).toBe(false);
    const loop = new Error('self') as Error & { cause?: unknown };
    loop.cause = loop;
    expect(isConnectionError(loop)).toBe(false);
    const a = new Error('a') as Error & { cause?: unknown };
    a.cause = new Error('b', { cause: a });
    expect(isConnectionError(a)).toBe(false);
  });
});
