/**
 * @module providers/http/resource — `http.resource`: any REST resource, by configured requests.
 *
 * Paths are joined to `endpoint`; `{id}` in a path is replaced by the resource's id (URL-encoded) and
 * `{idempotency_key}` (in the lookup path) by the create's key. Create sends the key as
 * `Idempotency-Key`, so a service that honours it makes one resource however often the create is
 * retried. The id is read from the create answer at `id_field` (dotted for nested: `data.id`).
 * Attributes: the properties, `id`, and `response` (the last JSON the service answered for it).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineType } from '../define.ts';
import { ensureOk, isOk, errorFromResponse } from '../http-status.ts';
import { ProviderError } from '../types.ts';
import type { Attributes, HttpRequest, ProviderContext } from '../types.ts';

const method = z.enum(['POST', 'PUT', 'PATCH', 'GET', 'DELETE']);
const request = z.strictObject({ method: method.optional(), path: z.string(), body: z.unknown().optional() });
const schema = z.strictObject({
  endpoint: z.string().url(),
  create: request,
  read: z.strictObject({ path: z.string() }),
  update: request.optional(),
  delete: z.strictObject({ path: z.string(), method: method.optional() }),
  /** Finds what a crashed create made: a path with `{idempotency_key}`, answering an object or an array. */
  lookup: z.strictObject({ path: z.string() }).optional(),
  id_field: z.string().min(1).optional(),
  /** The body of create and update when their request gives none. */
  body: z.record(z.string(), z.unknown()).optional(),
  headers: z.record(z.string(), z.string()).optional(),
});
type Props = z.infer<typeof schema>;

function url(props: Props, path: string, vars: Record<string, string>): string {
  const filled = path.replace(/\{(id|idempotency_key)\}/g, (_m, name: string) =>
    encodeURIComponent(vars[name] ?? ''),
  );
  if (/^https?:\/\//.test(filled)) return filled;
  return `${props.endpoint.replace(/\/+$/, '')}/${filled.replace(/^\/+/, '')}`;
}

function field(body: unknown, path: string): unknown {
  let v = body;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function send(ctx: ProviderContext, props: Props, req: Omit<HttpRequest, 'signal'>) {
  return ctx.http.request({
    ...req,
    headers: { ...(props.headers ?? {}), ...(req.headers ?? {}) },
    signal: ctx.signal,
  });
}

function attributes(props: Props, id: string, response: unknown): Attributes {
  return { ...props, id, response: response ?? null };
}

function idFrom(props: Props, body: unknown, what: string): string {
  const idField = props.id_field ?? 'id';
  const id = field(body, idField);
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new ProviderError(`http.resource: ${what} answered no "${idField}"`, undefined, 'NO_ID');
  }
  return String(id);
}

async function create(ctx: ProviderContext, props: Props, idempotencyKey: string): Promise<Attributes> {
  const target = url(props, props.create.path, { idempotency_key: idempotencyKey });
  const res = ensureOk(
    await send(ctx, props, {
      method: props.create.method ?? 'POST',
      url: target,
      headers: { 'Idempotency-Key': idempotencyKey },
      body: props.create.body ?? props.body ?? {},
    }),
    `http.resource: create ${target}`,
  );
  return attributes(props, idFrom(props, res.body, `create ${target}`), res.body);
}

async function read(ctx: ProviderContext, id: string, props: Props): Promise<Attributes | null> {
  const target = url(props, props.read.path, { id });
  const res = await send(ctx, props, { method: 'GET', url: target });
  if (res.status === 404 || res.status === 410) return null;
  if (!isOk(res)) throw errorFromResponse(res, `http.resource: read ${target}`);
  return attributes(props, id, res.body);
}

async function remove(ctx: ProviderContext, id: string, props: Props): Promise<void> {
  const target = url(props, props.delete.path, { id });
  const res = await send(ctx, props, { method: props.delete.method ?? 'DELETE', url: target });
  if (res.status === 404 || res.status === 410) return;
  ensureOk(res, `http.resource: delete ${target}`);
}

export const httpResource = defineType<Props>({
  type: 'http.resource',
  description: 'Any REST resource, by configured create / read / update / delete requests.',
  schema,
  // How the resource is addressed: change it and it is another resource.
  replaceOn: ['endpoint', 'create', 'read', 'delete', 'id_field'],
  kind: 'infrastructure',
  read: (ctx, id, props) => read(ctx, id, props),
  create: (ctx, props, opts) => create(ctx, props, opts.idempotencyKey),
  async update(ctx, id, props, prior) {
    if (!props.update) {
      // No update request configured: the only way to change it is to make it anew.
      await remove(ctx, id, prior as unknown as Props);
      return create(ctx, props, randomUUID());
    }
    const target = url(props, props.update.path, { id });
    const res = ensureOk(
      await send(ctx, props, {
        method: props.update.method ?? 'PUT',
        url: target,
        body: props.update.body ?? props.body ?? {},
      }),
      `http.resource: update ${target}`,
    );
    // Some services answer 204; then read it back.
    if (res.body === '' || res.body === null || res.body === undefined) {
      const now = await read(ctx, id, props);
      if (!now) throw new ProviderError(`http.resource: ${target} vanished during update`, 404, 'NOT_FOUND');
      return now;
    }
    return attributes(props, id, res.body);
  },
  delete: (ctx, id, prior) => remove(ctx, id, prior as unknown as Props),
  async lookup(ctx, { idempotencyKey, props }) {
    if (!props.lookup) return null;
    const target = url(props, props.lookup.path, { idempotency_key: idempotencyKey });
    const res = await send(ctx, props, { method: 'GET', url: target });
    if (res.status === 404 || res.status === 410) return null;
    if (!isOk(res)) throw errorFromResponse(res, `http.resource: lookup ${target}`);
    const found = Array.isArray(res.body) ? res.body[0] : res.body;
    if (found === undefined || found === null || found === '') return null;
    return attributes(props, idFrom(props, found, `lookup ${target}`), found);
  },
});
