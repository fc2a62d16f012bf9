/**
 * @module providers/sim/resource — the one implementation behind every `sim.*` type.
 *
 * Create sends `Idempotency-Key` and waits for AVAILABLE. Names are unique per region and kind, so a
 * name is a natural key: when create meets `409 NAME_TAKEN`, or when refresh looks for what a crashed
 * create made, a resource with our name and our properties is adopted rather than left blocking
 * progress (SPEC §3 "No orphans", the user called `nglass`). One with our name but other properties is
 * someone else's: that stays an error.
 */
import type { z } from 'zod';
import { defineType, propertiesMatch, sameValue } from '../define.ts';
import { errorBody, errorFromResponse, isOk } from '../http-status.ts';
import { ProviderError } from '../types.ts';
import type { Attributes, ProviderContext, ResourceType } from '../types.ts';
import { findResources, getResource, kindUrl, mutate, simRequest, waitAvailable } from './client.ts';
import type { SimResource } from './client.ts';

export interface SimTypeSpec<P extends Record<string, unknown>> {
  readonly type: string;
  /** URL segment: `networks`, `instances`, … */
  readonly segment: string;
  readonly description: string;
  readonly schema: z.ZodType<P>;
  readonly replaceOn: readonly string[];
  /** When `name` may be omitted: the name to give (from the idempotency key, so it is stable per intent). */
  readonly defaultName?: (ctx: ProviderContext, idempotencyKey: string) => string;
}

/** The simulator's answer is a fresh object with a string id (asResource checked): no copy needed. */
function toAttributes(r: SimResource): Attributes {
  return r as Attributes;
}

export function defineSimType<P extends Record<string, unknown>>(spec: SimTypeSpec<P>): ResourceType {
  const { segment, type } = spec;

  async function adoptByName(
    ctx: ProviderContext,
    body: Record<string, unknown>,
  ): Promise<SimResource | undefined> {
    if (typeof body.name !== 'string') return undefined;
    const found = await findResources(ctx, segment, { name: body.name });
    return found.find((r) => propertiesMatch(r, body));
  }

  return defineType<P>({
    type,
    description: spec.description,
    schema: spec.schema,
    replaceOn: spec.replaceOn,
    kind: 'infrastructure',

    // Not async: the simulator's answer is already the attributes (toAttributes), so read hands back
    // getResource's promise instead of wrapping it in one more, once per resource of every refresh.
    read(ctx, id) {
      return getResource(ctx, segment, id) as Promise<Attributes | null>;
    },

    async create(ctx, props, { idempotencyKey }) {
      const body: Record<string, unknown> = { ...props };
      if (body.name === undefined && spec.defaultName) body.name = spec.defaultName(ctx, idempotencyKey);
      const res = await simRequest(ctx, {
        method: 'POST',
        url: kindUrl(ctx, segment),
        headers: { 'Idempotency-Key': idempotencyKey },
        body,
      });
      let made: SimResource;
      if (isOk(res)) {
        made = res.body as SimResource;
        if (typeof made?.id !== 'string')
          throw new ProviderError(`${type}: the simulator answered no resource`, undefined, 'BAD_RESPONSE');
      } else if (res.status === 409 && errorBody(res.body).code === 'NAME_TAKEN') {
        const adopted = await adoptByName(ctx, body);
        if (!adopted) {
          throw new ProviderError(
            `${type}: the name "${String(body.name)}" is taken in ${ctx.target.region} by a resource with other properties`,
            409,
            'NAME_TAKEN',
          );
        }
        ctx.log.info(`${type}: adopted the existing resource named ${String(body.name)}`, { id: adopted.id });
        made = adopted;
      } else {
        throw errorFromResponse(res, `${type}: create`);
      }
      return toAttributes(await waitAvailable(ctx, segment, made));
    },

    async update(ctx, id, props, prior) {
      const change: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(props)) {
        if (v !== undefined && k !== 'name' && !sameValue(prior[k], v)) change[k] = v;
      }
      const what = `${type}: update ${id}`;
      const r = Object.keys(change).length
        ? await mutate(
            ctx,
            { method: 'PATCH', url: kindUrl(ctx, segment, `/${encodeURIComponent(id)}`), body: change },
            what,
          )
        : await getResource(ctx, segment, id);
      if (!r) throw new ProviderError(`${what}: it no longer exists`, 404, 'NOT_FOUND');
      return toAttributes(await waitAvailable(ctx, segment, r));
    },

    async delete(ctx, id) {
      const res = await simRequest(ctx, {
        method: 'DELETE',
        url: kindUrl(ctx, segment, `/${encodeURIComponent(id)}`),
      });
      if (res.status === 404 || isOk(res)) return;
      throw errorFromResponse(res, `${type}: delete ${id}`);
    },

    async lookup(ctx, { idempotencyKey, props }) {
      const byKey = (await findResources(ctx, segment, { idempotency_key: idempotencyKey }))[0];
      const found = byKey ?? (await adoptByName(ctx, { ...props }));
      return found ? toAttributes(await waitAvailable(ctx, segment, found)) : null;
    },
  });
}
