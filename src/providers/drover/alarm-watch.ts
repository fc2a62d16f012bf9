/**
 * @module providers/drover/alarm-watch — `drover.alarm_watch`: bake time with a health alarm.
 *
 * Polls a URL for `duration` every `interval`; the first bad sample (a status other than
 * `expect_status`, no answer, or no answer within `timeout`) fails the task at once, naming the sample,
 * so the release stops (and rolls back) as early as possible.
 */
import { z } from 'zod';
import { ProviderError } from '../types.ts';
import { durationSchema, parseDuration, sleep } from './duration.ts';
import { defineTask } from './task.ts';

const schema = z.strictObject({
  url: z.string().url(),
  duration: durationSchema,
  interval: durationSchema.optional(),
  expect_status: z.number().int().min(100).max(599).optional(),
  timeout: durationSchema.optional(),
});

function snippet(body: unknown): string {
  const s = typeof body === 'string' ? body : JSON.stringify(body);
  return s === undefined ? '' : s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

export const droverAlarmWatch = defineTask({
  type: 'drover.alarm_watch',
  description: 'Watches a health URL for a duration; any bad sample fails the rollout at once.',
  schema,
  async run(ctx, props) {
    const durationMs = parseDuration(props.duration);
    const intervalMs = Math.max(1, parseDuration(props.interval ?? '1s'));
    const timeoutMs = parseDuration(props.timeout ?? '5s');
    const expect = props.expect_status ?? 200;
    const deadline = Date.now() + durationMs;
    let samples = 0;
    for (;;) {
      const at = new Date().toISOString();
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
      let status: number;
      let body: unknown;
      try {
        const res = await ctx.http.request({ method: 'GET', url: props.url, signal });
        status = res.status;
        body = res.body;
      } catch (e) {
        if (ctx.signal.aborted)
          throw new ProviderError('drover.alarm_watch: cancelled', undefined, 'ABORTED');
        const why = signal.aborted
          ? `no answer within ${props.timeout ?? '5s'}`
          : e instanceof Error
            ? e.message
            : String(e);
        throw new ProviderError(
          `drover.alarm_watch: ${props.url} failed at ${at} (sample ${samples + 1}): ${why}`,
          undefined,
          'ALARM',
        );
      }
      samples++;
      if (status !== expect) {
        throw new ProviderError(
          `drover.alarm_watch: ${props.url} answered ${status} (expected ${expect}) at ${at} (sample ${samples}): ${snippet(body)}`,
          undefined,
          'ALARM',
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(intervalMs, left), ctx.signal);
    }
    return { samples };
  },
});
