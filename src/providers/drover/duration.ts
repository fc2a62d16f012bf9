/**
 * @module providers/drover/duration — durations written as "500ms", "30s", "2m", "1h" or "1m30s", and an
 * abortable sleep.
 */
import { z } from 'zod';
import { ProviderError } from '../types.ts';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/** Milliseconds, or undefined when `text` is not a duration. */
export function tryParseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!WHOLE.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(PART)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return Math.round(ms);
}

export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === undefined)
    throw new ProviderError(
      `"${text}" is not a duration (examples: 500ms, 30s, 2m, 1h, 1m30s)`,
      undefined,
      'VALIDATION',
    );
  return ms;
}

/** A property holding a duration; checked at `drover validate`. */
export const durationSchema = z.string().refine((s) => tryParseDuration(s) !== undefined, {
  message: 'a duration such as 500ms, 30s, 2m, 1h or 1m30s',
});

/** Resolves after `ms`, or rejects with a ProviderError (code ABORTED) as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => new ProviderError('cancelled', undefined, 'ABORTED');
    if (signal.aborted) return reject(aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
