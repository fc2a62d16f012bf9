import { describe, expect, it } from 'vitest';
import { ProviderError, TransientError } from '../providers/types.ts';
import { backoffDelay, withRetry } from './retry.ts';

describe('withRetry', () => {
  it('retries transient errors and succeeds', async () => {
    let calls = 0;
    const r = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new TransientError('503');
        return 'ok';
      },
      { attempts: 5, baseMs: 1, maxMs: 2 },
    );
    expect(r).toEqual({ value: 'ok', attempts: 3 });
  });

  it('gives up after the budget', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new TransientError('503');
        },
        { attempts: 4, baseMs: 1, maxMs: 1 },
      ),
    ).rejects.toThrow('503');
    expect(calls).toBe(4);
  });

  it('does not retry permanent errors', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new ProviderError('400');
        },
        { attempts: 4, baseMs: 1, maxMs: 1 },
      ),
    ).rejects.toThrow('400');
    expect(calls).toBe(1);
  });

  it('backs off exponentially within the cap', () => {
    const p = { attempts: 10, baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(1, p, () => 1)).toBe(100);
    expect(backoffDelay(3, p, () => 1)).toBe(400);
    expect(backoffDelay(8, p, () => 1)).toBe(1000);
    expect(backoffDelay(8, p, () => 0)).toBe(0);
  });
});
