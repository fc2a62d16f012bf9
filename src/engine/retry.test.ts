import { describe, expect, it } from 'vitest';
import { ProviderError, TransientError } from '../providers/types.ts';
import { backoffDelay, retrying, withRetry } from './retry.ts';

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

describe('retrying (the hot-path form)', () => {
  const policy = { attempts: 4, baseMs: 1, maxMs: 1 };
  const failing = (errors: Error[]) => {
    let calls = 0;
    const fn = (): Promise<string> => {
      const e = errors[calls++];
      return e ? Promise.reject(e) : Promise.resolve('ok');
    };
    return { fn, calls: () => calls };
  };

  it('answers with the first attempt, or retries transient errors as withRetry does', async () => {
    const once = failing([]);
    expect(await retrying(once.fn, policy)).toBe('ok');
    expect(once.calls()).toBe(1);
    const twice = failing([new TransientError('503'), new TransientError('503')]);
    expect(await retrying(twice.fn, policy)).toBe('ok');
    expect(twice.calls()).toBe(3);
  });

  it('gives up after the budget and does not retry permanent errors, saying how many attempts it took', async () => {
    const always = failing(Array.from({ length: 9 }, () => new TransientError('503')));
    const e1 = await retrying(always.fn, policy).catch((e: unknown) => e);
    expect(always.calls()).toBe(4);
    expect(e1).toMatchObject({ message: '503', attempts: 4 });
    const permanent = failing([new ProviderError('400')]);
    const e2 = await retrying(permanent.fn, policy).catch((e: unknown) => e);
    expect(permanent.calls()).toBe(1);
    expect(e2).toMatchObject({ message: '400', attempts: 1 });
  });

  it('turns a synchronous throw into a rejection', async () => {
    const e = await retrying(() => {
      throw new ProviderError('sync');
    }, policy).catch((x: unknown) => x);
    expect(e).toMatchObject({ message: 'sync', attempts: 1 });
  });
});
