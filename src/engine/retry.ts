/**
 * @module engine/retry — exponential backoff with full jitter for transient provider errors.
 *
 * Full jitter (a random delay in [0, min(max, base·2^n)]) spreads retries of many parallel operations
 * hitting the same flaky service, so they do not retry in lockstep.
 */
import { TransientError } from '../providers/types.ts';

export interface RetryPolicy {
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseMs: 100, maxMs: 5_000 };

export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs fn, retrying on TransientError up to policy.attempts in all. Other errors pass through at once.
 * Returns the result and how many attempts it took.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (attempt: number, delayMs: number, error: Error) => void,
  signal?: AbortSignal,
  firstAttempt = 1,
): Promise<{ value: T; attempts: number }> {
  for (let attempt = firstAttempt; ; attempt++) {
    try {
      return { value: await fn(), attempts: attempt };
    } catch (e) {
      if (!(e instanceof TransientError) || attempt >= policy.attempts) {
        if (e instanceof Error) Object.assign(e, { attempts: attempt });
        throw e;
      }
      const delay = backoffDelay(attempt, policy);
      onRetry?.(attempt, delay, e);
      await sleep(delay, signal);
    }
  }
}

/**
 * withRetry for the hot path: when the first attempt succeeds, the promise is fn's own answer, with no
 * async frame or result object around it (a refresh reads every resource of a state this way,
 * thousands of them); a failed first attempt goes on exactly as withRetry's would.
 */
export function retrying<T>(fn: () => Promise<T>, policy: RetryPolicy, signal?: AbortSignal): Promise<T> {
  let first: Promise<T>;
  try {
    first = fn();
  } catch (e) {
    first = Promise.reject(e);
  }
  return first.catch(async (e: unknown) => {
    if (!(e instanceof TransientError) || policy.attempts <= 1) {
      if (e instanceof Error) Object.assign(e, { attempts: 1 });
      throw e;
    }
    await sleep(backoffDelay(1, policy), signal);
    return (await withRetry(fn, policy, undefined, signal, 2)).value;
  });
}
