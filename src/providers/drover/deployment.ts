/**
 * @module providers/drover/deployment — `drover.deployment`: puts an artifact version on a simulator
 * instance and checks that it comes up healthy.
 *
 * POST `/regions/{region}/instances/{id}/deploy` { version } through ctx.http (signed, fenced), then
 * GETs the instance's `health_url` until it answers 200, a few times, else fails the task so the
 * release stops and can roll back.
 */
import { z } from 'zod';
import { ensureOk } from '../http-status.ts';
import { ProviderError, TransientError } from '../types.ts';
import type { ProviderContext } from '../types.ts';
import { durationSchema, parseDuration, sleep } from './duration.ts';
import { defineTask } from './task.ts';

const schema = z.strictObject({
  instance: z.string().min(1),
  artifact: z.string().min(1),
  region: z.string().min(1).optional(),
  endpoint: z.string().url().optional(),
  health_checks: z.number().int().min(1).max(100).optional(),
  health_interval: durationSchema.optional(),
});

const DEFAULT_HEALTH_CHECKS = 5;
const DEFAULT_HEALTH_INTERVAL = '500ms';

function simEndpoint(ctx: ProviderContext, given: string | undefined): string {
  const endpoint = given ?? ctx.providerConfigs.sim?.endpoint ?? ctx.config.endpoint;
  if (typeof endpoint !== 'string' || !endpoint) {
    throw new ProviderError(
      'drover.deployment: no endpoint (set `endpoint`, or `providers: { sim: { endpoint } }`)',
      undefined,
      'PROVIDER_CONFIG',
    );
  }
  return endpoint.replace(/\/+$/, '');
}

export const droverDeployment = defineTask({
  type: 'drover.deployment',
  description: 'Deploys an artifact version to a simulator instance and waits for it to report healthy.',
  schema,
  async run(ctx, props) {
    const endpoint = simEndpoint(ctx, props.endpoint);
    const region = props.region ?? ctx.target.region;
    const url = `${endpoint}/regions/${encodeURIComponent(region)}/instances/${encodeURIComponent(props.instance)}/deploy`;
    const res = ensureOk(
      await ctx.http.request({ method: 'POST', url, body: { version: props.artifact }, signal: ctx.signal }),
      `drover.deployment: deploy ${props.artifact} to ${props.instance}`,
    );
    const instance =
      res.body !== null && typeof res.body === 'object' ? (res.body as Record<string, unknown>) : {};
    const healthUrl =
      typeof instance.health_url === 'string'
        ? instance.health_url
        : `${endpoint}/health/${encodeURIComponent(props.instance)}`;

    const tries = props.health_checks ?? DEFAULT_HEALTH_CHECKS;
    const intervalMs = parseDuration(props.health_interval ?? DEFAULT_HEALTH_INTERVAL);
    let last = '';
    for (let i = 1; i <= tries; i++) {
      try {
        const h = await ctx.http.request({
          method: 'GET',
          url: healthUrl,
          signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(5000)]),
        });
        if (h.status === 200) {
          return { deployed_version: props.artifact, health_url: healthUrl, region, health_checks_made: i };
        }
        last = `HTTP ${h.status} ${typeof h.body === 'string' ? h.body.slice(0, 200) : JSON.stringify(h.body)}`;
      } catch (e) {
        if (ctx.signal.aborted) throw new ProviderError('drover.deployment: cancelled', undefined, 'ABORTED');
        if (!(e instanceof TransientError) && !(e instanceof Error && e.name === 'TimeoutError')) throw e;
        last = e.message;
      }
      if (i < tries) await sleep(intervalMs, ctx.signal);
    }
    throw new ProviderError(
      `drover.deployment: ${props.artifact} on ${props.instance} is not healthy after ${tries} checks of ${healthUrl}: ${last}`,
      undefined,
      'DEPLOYMENT_UNHEALTHY',
    );
  },
});
