/**
 * @module providers/sim/client — the simulator REST calls every `sim.*` type shares (docs/simulator.md).
 *
 * Requests go through ctx.http, which signs them (local mode) or sends them through the signing proxy
 * (under a worker); this module never sees credentials. Endpoint = the `sim` provider block's
 * `endpoint`; region = the target's region.
 */
import { parseDuration, sleep } from '../drover/duration.ts';
import { errorFromResponse, isOk } from '../http-status.ts';
import { ProviderError, TransientError } from '../types.ts';
import type { HttpRequest, HttpResponse, ProviderContext } from '../types.ts';

/** A resource as the simulator answers it: `{ id, kind, name, region, state, …properties }`. */
export type SimResource = Record<string, unknown> & { readonly id: string; readonly state?: string };

/** How long create/update wait for AVAILABLE unless `providers: { sim: { wait_timeout } }` says otherwise. */
const DEFAULT_WAIT_TIMEOUT = '5m';
/** Poll quickly at first (the simulator provisions in ~ms by default), then back off to 1 s. */
const POLL_FIRST_MS = 25;
const POLL_MAX_MS = 1000;

/** The checked endpoint per provider config object (a run's contexts share theirs). */
const endpoints = new WeakMap<object, string>();
/** `{endpoint}/regions/{region}/` per provider context: refresh asks once per resource. */
const regionBases = new WeakMap<ProviderContext, string>();

export function simEndpoint(ctx: ProviderContext): string {
  const known = endpoints.get(ctx.config);
  if (known !== undefined) return known;
  const endpoint = ctx.config.endpoint;
  if (typeof endpoint !== 'string' || !/^https?:\/\//.test(endpoint)) {
    throw new ProviderError(
      'sim: the provider needs `providers: { sim: { endpoint: "http://…" } }`',
      undefined,
      'PROVIDER_CONFIG',
    );
  }
  const clean = endpoint.replace(/\/+$/, '');
  endpoints.set(ctx.config, clean);
  return clean;
}

function regionBase(ctx: ProviderContext): string {
  let base = regionBases.get(ctx);
  if (base === undefined) {
    base = `${simEndpoint(ctx)}/regions/${encodeURIComponent(ctx.target.region)}/`;
    regionBases.set(ctx, base);
  }
  return base;
}

export function kindUrl(ctx: ProviderContext, segment: string, rest = ''): string {
  return regionBase(ctx) + segment + rest;
}

export function simRequest(ctx: ProviderContext, req: Omit<HttpRequest, 'signal'>): Promise<HttpResponse> {
  return ctx.http.request({ ...req, signal: ctx.signal });
}

function asResource(body: unknown, what: string): SimResource {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const id = (body as Record<string, unknown>).id;
    if (typeof id === 'string' && id) return body as SimResource;
  }
  throw new ProviderError(`${what}: the simulator answered no resource`, undefined, 'BAD_RESPONSE');
}

/**
 * One resource, or null when it is gone. A refresh calls this once per resource in state, so the
 * success path builds nothing it does not send (the error text only on an error).
 */
export async function getResource(
  ctx: ProviderContext,
  segment: string,
  id: string,
): Promise<SimResource | null> {
  const res = await ctx.http.request({
    method: 'GET',
    url: `${regionBase(ctx)}${segment}/${encodeURIComponent(id)}`,
    signal: ctx.signal,
  });
  if (res.status === 404) return null;
  if (!isOk(res)) throw errorFromResponse(res, `sim: GET ${segment}/${id}`);
  const r = asResource(res.body, `sim: GET ${segment}/${id}`);
  return r.state === 'DELETED' ? null : r;
}

/** Resources matching `?name=` or `?idempotency_key=`. */
export async function findResources(
  ctx: ProviderContext,
  segment: string,
  query: { name: string } | { idempotency_key: string },
): Promise<SimResource[]> {
  const qs = new URLSearchParams(query as Record<string, string>).toString();
  const what = `sim: GET ${segment}?${qs}`;
  const res = await simRequest(ctx, { method: 'GET', url: kindUrl(ctx, segment, `?${qs}`) });
  if (!isOk(res)) throw errorFromResponse(res, what);
  if (!Array.isArray(res.body))
    throw new ProviderError(`${what}: expected an array`, undefined, 'BAD_RESPONSE');
  return res.body.map((b) => asResource(b, what)).filter((r) => r.state !== 'DELETED');
}

/** A mutating call whose answer is one resource. */
export async function mutate(
  ctx: ProviderContext,
  req: Omit<HttpRequest, 'signal'>,
  what: string,
): Promise<SimResource> {
  const res = await simRequest(ctx, req);
  if (!isOk(res)) throw errorFromResponse(res, what);
  return asResource(res.body, what);
}

/**
 * Polls until the resource is AVAILABLE. Bounded: past the wait timeout it is a TransientError, so the
 * engine retries (a retried create with the same idempotency key answers the same resource and waits
 * again). A resource that vanishes or reports FAILED is a ProviderError.
 */
export async function waitAvailable(
  ctx: ProviderContext,
  segment: string,
  resource: SimResource,
): Promise<SimResource> {
  const configured = ctx.config.wait_timeout;
  const timeoutMs = parseDuration(typeof configured === 'string' ? configured : DEFAULT_WAIT_TIMEOUT);
  const deadline = Date.now() + timeoutMs;
  let current = resource;
  let delay = POLL_FIRST_MS;
  while (current.state !== undefined && current.state !== 'AVAILABLE') {
    if (current.state === 'FAILED' || current.state === 'ERROR') {
      throw new ProviderError(
        `sim: ${segment}/${current.id} is ${current.state}`,
        undefined,
        'RESOURCE_FAILED',
      );
    }
    if (Date.now() >= deadline) {
      throw new TransientError(`sim: ${segment}/${current.id} still ${current.state} after ${timeoutMs} ms`);
    }
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())), ctx.signal);
    delay = Math.min(POLL_MAX_MS, Math.ceil(delay * 1.6));
    const next = await getResource(ctx, segment, current.id);
    if (!next)
      throw new ProviderError(
        `sim: ${segment}/${current.id} vanished while ${current.state}`,
        404,
        'NOT_FOUND',
      );
    current = next;
  }
  return current;
}
