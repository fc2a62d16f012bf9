/**
 * @module sim/server — the region simulator as an HTTP service (docs/simulator.md), on bare node:http
 * because benchmarks compare plan time with a loop of bare GETs: per-request overhead here counts.
 *
 * A resource API request goes through, in order: arrival (`started`) → latency → outage window →
 * route → region unreachable → signature → injected error rate → fence → the action → answer (`at`).
 * Every refusal happens before the action, so a refused call never changes anything.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReplayCache, verifyRequestSync } from '../signing/index.ts';
import { FaultTable, parseFaultRequest } from './faults.ts';
import { FenceTable, parseFence } from './fences.ts';
import { errorReply, parseJson, readBody, send, type Reply } from './http-util.ts';
import { Journal } from './journal.ts';
import { checkCreate, checkUpdate, KIND_BY_SEGMENT, type Kind } from './kinds.ts';
import { compileSimOptions, type CompiledSimOptions, type SimOptions } from './options.ts';
import { seededRandom, type Random } from './random.ts';
import { SimStore, type SimResource } from './store.ts';

export interface SimHandle {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops every open connection (held health checks included). */
  close(): Promise<void>;
}

const MUTATING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REGION_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Route {
  readonly region: string;
  readonly kind: Kind;
  readonly id?: string;
  readonly action?: 'deploy';
}

type RouteParse =
  { readonly ok: true; readonly route: Route } | { readonly ok: false; readonly reply: Reply };

/** `/regions/{region}/{kind}[/{id}[/deploy]]` */
function parseRoute(path: string): RouteParse {
  const parts = path.split('/');
  if (parts.length < 4 || parts.length > 6 || parts[0] !== '' || parts[1] !== 'regions')
    return { ok: false, reply: errorReply(404, 'NOT_FOUND', `no route ${path}`) };
  let segs: string[];
  try {
    segs = parts.slice(2).map(decodeURIComponent);
  } catch {
    return { ok: false, reply: errorReply(400, 'VALIDATION', `malformed path encoding: ${path}`) };
  }
  const [region = '', seg = '', id, action] = segs;
  const kind = Object.hasOwn(KIND_BY_SEGMENT, seg) ? KIND_BY_SEGMENT[seg] : undefined;
  if (kind === undefined)
    return {
      ok: false,
      reply: errorReply(
        404,
        'NOT_FOUND',
        `unknown kind "${seg}" (expected one of ${Object.keys(KIND_BY_SEGMENT).join(', ')})`,
      ),
    };
  if (!REGION_RE.test(region))
    return {
      ok: false,
      reply: errorReply(400, 'VALIDATION', `region "${region}" must match [a-z0-9][a-z0-9-]*`),
    };
  if (id === '') return { ok: false, reply: errorReply(404, 'NOT_FOUND', `no route ${path}`) };
  if (action !== undefined && (action !== 'deploy' || kind !== 'instance'))
    return { ok: false, reply: errorReply(404, 'NOT_FOUND', `no route ${path}`) };
  return {
    ok: true,
    route: { region, kind, ...(id === undefined ? {} : { id }), ...(action === undefined ? {} : { action }) },
  };
}

function operationOf(method: string, route: Route | undefined): string {
  if (route === undefined) return method;
  if (route.action === 'deploy') return 'deploy';
  switch (method) {
    case 'POST':
      return route.id === undefined ? 'create' : method;
    case 'PATCH':
    case 'PUT':
      return 'update';
    case 'DELETE':
      return 'delete';
    default:
      return method;
  }
}

class Simulator {
  private readonly rng: Random;
  private readonly store: SimStore;
  private readonly journal = new Journal();
  private readonly fences = new FenceTable();
  private readonly faults = new FaultTable();
  private readonly replay = new ReplayCache();
  private readonly startedAt = performance.now();
  private readonly held = new Set<{ res: ServerResponse; timer: NodeJS.Timeout }>();
  baseUrl = '';

  constructor(private readonly o: CompiledSimOptions) {
    this.rng = seededRandom(o.seed);
    this.store = new SimStore(this.rng, o.provisionMs);
  }

  private readonly lookupSecret = (accessKeyId: string): string | undefined => this.o.keys.get(accessKeyId);

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.dispatch(req, res).catch((e: unknown) => {
      send(res, errorReply(500, 'INTERNAL', `simulator bug: ${e instanceof Error ? e.message : String(e)}`));
    });
  };

  dropHeld(): void {
    for (const h of this.held) {
      clearTimeout(h.timer);
      h.res.destroy();
    }
    this.held.clear();
  }

  private inOutage(): boolean {
    if (this.o.outages.length === 0) return false;
    const s = (performance.now() - this.startedAt) / 1000;
    return this.o.outages.some((w) => s >= w.startS && s < w.startS + w.durationS);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    if (body === null) {
      send(res, errorReply(413, 'VALIDATION', 'the body is larger than 1 MiB'));
      return;
    }
    if (path.startsWith('/regions/')) {
      const { reply, route, resourceId } = await this.resourceApi(
        req,
        method,
        target,
        path,
        q < 0 ? '' : target.slice(q + 1),
        body,
      );
      if (MUTATING.has(method)) this.record(req, method, path, started, reply, route, resourceId);
      send(res, reply);
      return;
    }
    const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    if (path.startsWith('/health/')) return this.health(res, path.slice('/health/'.length));
    send(res, this.inspection(method, path, query, body));
  }

  private record(
    req: IncomingMessage,
    method: string,
    path: string,
    startedMs: number,
    reply: Reply,
    route: Route | undefined,
    resourceId: string | undefined,
  ): void {
    const fence = parseFence(header(req, 'drover-fence'));
    this.journal.add({
      started: iso(startedMs),
      at: iso(Date.now()),
      task: fence.ok && fence.fence ? fence.fence.task : null,
      token: fence.ok && fence.fence ? fence.fence.token : null,
      worker: header(req, 'drover-worker') ?? null,
      operation: operationOf(method, route),
      resource: resourceId ?? route?.id ?? path,
      kind: route?.kind ?? null,
      region: route?.region ?? null,
      method,
      path,
      status: reply.status,
      ...(reply.code ? { code: reply.code } : {}),
    });
  }

  private async resourceApi(
    req: IncomingMessage,
    method: string,
    target: string,
    path: string,
    rawQuery: string,
    body: string,
  ): Promise<{ reply: Reply; route?: Route; resourceId?: string }> {
    const o = this.o;
    if (o.latencyMs > 0 || o.jitterMs > 0) {
      const delay = Math.max(0, o.latencyMs + (this.rng() * 2 - 1) * o.jitterMs);
      if (delay > 0) await sleep(delay);
    }
    if (this.inOutage())
      return { reply: errorReply(503, 'SIM_FAULT', 'injected outage: the simulator is down') };
    const parsed = parseRoute(path);
    if (!parsed.ok) return { reply: parsed.reply };
    const route = parsed.route;
    if (this.faults.region(route.region) === 'unreachable')
      return {
        reply: errorReply(503, 'SIM_FAULT', `injected fault: region ${route.region} is unreachable`),
        route,
      };

    const v = verifyRequestSync({ method, path: target, headers: req.headers, body }, this.lookupSecret, {
      replay: this.replay,
      maxSkewMs: o.maxSkewMs,
    });
    if (!v.ok) return { reply: errorReply(401, 'SIGNATURE_INVALID', v.reason), route };

    if (o.errorRate > 0 && this.rng() < o.errorRate) {
      const status = this.rng() < 0.5 ? 500 : 503;
      return {
        reply: errorReply(
          status,
          'SIM_FAULT',
          `injected fault (error rate ${o.errorRate}): nothing was done`,
        ),
        route,
      };
    }

    const mutating = MUTATING.has(method);
    if (mutating) {
      const fence = parseFence(header(req, 'drover-fence'));
      if (!fence.ok) return { reply: errorReply(400, 'VALIDATION', fence.message), route };
      if (fence.fence) {
        const highest = this.fences.admit(fence.fence);
        if (highest !== undefined) {
          return {
            reply: errorReply(
              409,
              'STALE_FENCE',
              `task ${fence.fence.task}: token ${fence.fence.token} is lower than ${highest}, the highest seen; a newer lease holds this task`,
              {
                task: fence.fence.task,
                token: fence.fence.token,
                highest,
              },
            ),
            route,
          };
        }
      }
    }
    return { ...this.act(req, method, route, rawQuery, body), route };
  }

  /** The action itself: synchronous, so check-then-act cannot interleave with another request. */
  private act(
    req: IncomingMessage,
    method: string,
    route: Route,
    rawQuery: string,
    body: string,
  ): { reply: Reply; resourceId?: string } {
    const now = Date.now();
    const { region, kind, id } = route;
    if (route.action === 'deploy') {
      if (method !== 'POST')
        return { reply: errorReply(405, 'VALIDATION', `${method} is not allowed here (POST …/deploy)`) };
      const r = this.store.find(region, kind, id ?? '');
      if (!r) return { reply: errorReply(404, 'NOT_FOUND', `no instance ${id} in region ${region}`) };
      const j = parseJson(body);
      if (!j.ok) return { reply: j.reply, resourceId: r.id };
      const b = j.value as Record<string, unknown> | null;
      if (typeof b !== 'object' || b === null || Array.isArray(b))
        return {
          reply: errorReply(400, 'VALIDATION', 'the body must be { "version": "…" }'),
          resourceId: r.id,
        };
      const extra = Object.keys(b).filter((k) => k !== 'version');
      if (extra.length)
        return {
          reply: errorReply(400, 'VALIDATION', `unknown field(s): ${extra.join(', ')}`),
          resourceId: r.id,
        };
      const version = b['version'];
      if (typeof version !== 'string' || version === '' || version.length > 1024)
        return {
          reply: errorReply(400, 'VALIDATION', 'version: required, a non-empty string'),
          resourceId: r.id,
        };
      this.store.deploy(r, version, now);
      return { reply: { status: 200, body: this.view(r, now) }, resourceId: r.id };
    }

    if (id === undefined) {
      switch (method) {
        case 'GET': {
          const query = new URLSearchParams(rawQuery);
          const name = query.get('name') ?? undefined;
          const idempotencyKey = query.get('idempotency_key') ?? undefined;
          const list = this.store.list(region, kind, {
            ...(name === undefined ? {} : { name }),
            ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
          });
          return { reply: { status: 200, body: list.map((r) => this.view(r, now)) } };
        }
        case 'POST':
          return this.create(req, route, body, now);
        default:
          return {
            reply: errorReply(405, 'VALIDATION', `${method} is not allowed on a collection (GET, POST)`),
          };
      }
    }

    const r = this.store.find(region, kind, id);
    switch (method) {
      case 'GET':
        return r
          ? { reply: { status: 200, body: this.view(r, now) }, resourceId: r.id }
          : { reply: errorReply(404, 'NOT_FOUND', `no ${kind} ${id} in region ${region}`) };
      case 'DELETE':
        if (!r) return { reply: errorReply(404, 'NOT_FOUND', `no ${kind} ${id} in region ${region}`) };
        this.store.delete(r);
        return { reply: { status: 204 }, resourceId: r.id };
      case 'PATCH': {
        if (!r) return { reply: errorReply(404, 'NOT_FOUND', `no ${kind} ${id} in region ${region}`) };
        const j = parseJson(body);
        if (!j.ok) return { reply: j.reply, resourceId: r.id };
        const checked = checkUpdate(kind, r.props, j.value);
        if (!checked.ok)
          return { reply: errorReply(400, 'VALIDATION', `${kind}: ${checked.message}`), resourceId: r.id };
        const bad = this.checkReferences(route, checked.props);
        if (bad) return { reply: bad, resourceId: r.id };
        this.store.update(r, checked.props, now);
        return { reply: { status: 200, body: this.view(r, now) }, resourceId: r.id };
      }
      default:
        return {
          reply: errorReply(405, 'VALIDATION', `${method} is not allowed on a resource (GET, PATCH, DELETE)`),
        };
    }
  }

  private create(
    req: IncomingMessage,
    route: Route,
    body: string,
    now: number,
  ): { reply: Reply; resourceId?: string } {
    const { region, kind } = route;
    const j = parseJson(body);
    if (!j.ok) return { reply: j.reply };
    const checked = checkCreate(kind, j.value);
    if (!checked.ok) return { reply: errorReply(400, 'VALIDATION', `${kind}: ${checked.message}`) };
    const bad = this.checkReferences(route, checked.props);
    if (bad) return { reply: bad };
    const key = header(req, 'idempotency-key');
    if (key !== undefined && (key === '' || key.length > 255))
      return { reply: errorReply(400, 'VALIDATION', 'Idempotency-Key must be 1 to 255 characters') };
    const out = this.store.create(region, kind, checked.props, key ?? null, now);
    switch (out.outcome) {
      case 'created':
        return { reply: { status: 201, body: this.view(out.resource, now) }, resourceId: out.resource.id };
      case 'existing':
        return { reply: { status: 200, body: this.view(out.resource, now) }, resourceId: out.resource.id };
      case 'name_taken':
        return {
          reply: errorReply(
            409,
            'NAME_TAKEN',
            `a ${kind} named "${checked.props.name}" exists already in region ${region} (${out.holder.id})`,
            { id: out.holder.id, name: checked.props.name },
          ),
        };
      default: {
        const never: never = out;
        throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
      }
    }
  }

  /** sim.instance.network must name an existing network in the same region. */
  private checkReferences(route: Route, props: Record<string, unknown>): Reply | undefined {
    if (route.kind !== 'instance') return undefined;
    const network = String(props['network']);
    if (!this.store.find(route.region, 'network', network))
      return errorReply(
        400,
        'VALIDATION',
        `instance: network: no network ${network} in region ${route.region}`,
      );
    return undefined;
  }

  private view(r: SimResource, now: number): Record<string, unknown> {
    const { name, ...props } = r.props;
    const v: Record<string, unknown> = {
      id: r.id,
      kind: r.kind,
      name,
      region: r.region,
      state: this.store.state(r, now),
      ...props,
      created_at: iso(r.createdMs),
      updated_at: iso(r.updatedMs),
      idempotency_key: r.idempotencyKey,
    };
    if (r.kind === 'instance') {
      v['health_url'] = `${this.baseUrl}/health/${r.id}`;
      v['deployed_version'] = r.deployedVersion;
      v['deployed_at'] = r.deployedMs === null ? null : iso(r.deployedMs);
    }
    return v;
  }

  private health(res: ServerResponse, rawId: string): void {
    if (this.inOutage())
      return send(res, errorReply(503, 'SIM_FAULT', 'injected outage: the simulator is down'));
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      return send(res, errorReply(400, 'VALIDATION', 'malformed instance id'));
    }
    const r = this.store.get(id);
    if (!r || r.kind !== 'instance') return send(res, errorReply(404, 'NOT_FOUND', `no instance ${id}`));
    const fault = this.faults.instance(r.id, r.region, r.deployedVersion);
    const base = { id: r.id, region: r.region, version: r.deployedVersion };
    switch (fault) {
      case 'unreachable': {
        // Never answer, like a dead host: the caller's timeout fires. Bounded so sockets do not pile up.
        const h = {
          res,
          timer: setTimeout(() => {
            this.held.delete(h);
            res.destroy();
          }, this.o.unreachableHoldMs),
        };
        this.held.add(h);
        res.on('close', () => {
          clearTimeout(h.timer);
          this.held.delete(h);
        });
        return;
      }
      case 'unhealthy':
        return send(res, { status: 503, body: { status: 'unhealthy', ...base } });
      case undefined:
        break;
      default: {
        const never: never = fault;
        throw new Error(`unhandled fault ${String(never)}`);
      }
    }
    if (this.store.state(r, Date.now()) === 'PROVISIONING')
      return send(res, { status: 503, body: { status: 'provisioning', ...base } });
    send(res, { status: 200, body: { status: 'healthy', ...base } });
  }

  private inspection(method: string, path: string, query: URLSearchParams, body: string): Reply {
    const now = Date.now();
    const notAllowed = (allowed: string): Reply =>
      errorReply(405, 'VALIDATION', `${method} is not allowed on ${path} (${allowed})`);
    switch (path) {
      case '/_healthz':
        return method === 'GET' || method === 'HEAD'
          ? { status: 200, body: { status: 'ok' } }
          : notAllowed('GET');
      case '/_journal': {
        if (method !== 'GET') return notAllowed('GET');
        const sinceText = query.get('since');
        const since = sinceText === null ? undefined : Number(sinceText);
        if (since !== undefined && !Number.isInteger(since))
          return errorReply(400, 'VALIDATION', 'since: must be an integer sequence number');
        const task = query.get('task') ?? undefined;
        return {
          status: 200,
          body: this.journal.list({
            ...(since === undefined ? {} : { since }),
            ...(task === undefined ? {} : { task }),
          }),
        };
      }
      case '/_resources':
        if (method !== 'GET') return notAllowed('GET');
        return { status: 200, body: this.store.inventory(now, query.get('region') ?? undefined) };
      case '/_reset':
        if (method !== 'POST') return notAllowed('POST');
        this.store.clear();
        this.journal.clear();
        this.fences.clear();
        this.faults.clear();
        this.dropHeld();
        return { status: 204 };
      case '/_faults': {
        switch (method) {
          case 'GET':
            return { status: 200, body: this.faults.list() };
          case 'DELETE':
            this.faults.clear();
            return { status: 204 };
          case 'POST': {
            const j = parseJson(body);
            if (!j.ok) return j.reply;
            const f = parseFaultRequest(j.value);
            if (!f.ok) return errorReply(400, 'VALIDATION', `fault: ${f.message}`);
            this.faults.apply(f);
            return { status: 200, body: this.faults.list() };
          }
          default:
            return notAllowed('GET, POST, DELETE');
        }
      }
      default:
        return errorReply(404, 'NOT_FOUND', `no route ${method} ${path}`);
    }
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts a simulator; resolves once it listens. */
export async function startSim(options: SimOptions): Promise<SimHandle> {
  const o = compileSimOptions(options);
  const sim = new Simulator(o);
  const server = http.createServer(sim.handle);
  // Longer than clients' idle keep-alive, so a client rarely reuses a socket the server is closing.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${urlHost(o.host)}:${port}`;
  sim.baseUrl = o.publicUrl ?? url;
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        sim.dropHeld();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
