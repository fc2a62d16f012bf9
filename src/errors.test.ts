import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderErrorsDoc } from './errors-doc.ts';
import { DroverError, ErrorCodes, toDroverError, type ErrorCode } from './errors.ts';

describe('error registry', () => {
  it('agrees with docs/errors.md (regenerate with scripts/gen-errors-doc.ts)', () => {
    const committed = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderErrorsDoc());
  });

  it('gives every code a fitting status and exit code', () => {
    for (const [code, spec] of Object.entries(ErrorCodes)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.status, code).toBeLessThan(600);
      expect([1, 2, 3], code).toContain(spec.exit);
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
    }
    expect(ErrorCodes.CONFIG_INVALID.exit).toBe(2);
    expect(ErrorCodes.EXECUTION_IN_PROGRESS).toMatchObject({ status: 409, exit: 3 });
    expect(ErrorCodes.LEASE_EXPIRED.status).toBe(403);
    expect(ErrorCodes.STALE_FENCE.status).toBe(409);
  });

  it('uses only registered codes in the source', () => {
    const used = execSync(`grep -rhoE "DroverError\\('[A-Z_]+'" src || true`, { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((s) => s.slice("DroverError('".length, -1));
    for (const code of new Set(used)) expect(Object.keys(ErrorCodes), code).toContain(code);
  });

  it('serialises to the API error body', () => {
    const e = new DroverError('PLAN_DIVERGED', 'create x was not approved', { details: { address: 'x' } });
    expect(e.toJSON()).toEqual({
      error: { code: 'PLAN_DIVERGED', message: 'create x was not approved', details: { address: 'x' } },
    });
    expect(e.exitCode).toBe(1);
    expect(toDroverError(new Error('boom')).code satisfies ErrorCode).toBe('INTERNAL');
  });
});
