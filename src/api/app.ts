/**
 * @module api/app — the HTTP app (fastify): JSON under /api/v1, bearer-token auth per route, every error
 * as `{ "error": { "code", "message" } }` with the registry's status (SPEC.md §8), never a stack trace.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { DroverError, isDroverError } from '../errors.ts';
import { isConnectionError } from '../store/connection-error.ts';
import type { Logger } from '../providers/types.ts';
import { route, type ApiContext } from './context.ts';
import { openApiDocument } from './openapi.ts';
import { taskRuntimeRoutes } from './routes/task-runtime-routes.ts';
import { tasksRoutes } from './routes/tasks-routes.ts';
import { tokensRoutes } from './routes/tokens-routes.ts';
import { workersRoutes } from './routes/workers-routes.ts';

/** Flock files and saved plans can be large; more than this is refused (400). */
const BODY_LIMIT = 32 * 1024 * 1024;

export function toHttpError(err: unknown): DroverError {
  if (isDroverError(err)) return err;
  const e = err as { code?: unknown; statusCode?: unknown; validation?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (isConnectionError(err))
    return new DroverError('STORE_UNAVAILABLE', `the database is unavailable: ${message}`);
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Fastify's own refusals: unparsable JSON, body too large, unsupported media type.
    return new DroverError('VALIDATION', message);
  }
  return new DroverError('INTERNAL', 'an unexpected internal error', { cause: err });
}

export interface AppOptions {
  readonly log?: Logger;
  /** More routes (other parts of the server: central, archive, console) registered on the same app. */
  readonly plugins?: readonly ((app: FastifyInstance, ctx: ApiContext) => void | Promise<void>)[];
}

const ROUTES = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** Every route registered on an app built here (the OpenAPI test checks each is documented). */
export function registeredRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return ROUTES.get(app) ?? [];
}

export async function buildApp(ctx: ApiContext, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  const routes: { method: string; url: string }[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method])
      if (m !== 'HEAD') routes.push({ method: m, url: r.url });
  });

  // An empty body with a JSON content type is "no body" (control POSTs), not an error.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(
        new DroverError('VALIDATION', `the request body is not valid JSON: ${(e as Error).message}`),
        undefined,
      );
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err);
    if (e.code === 'INTERNAL' || e.code === 'STORE_UNAVAILABLE') {
      opts.log?.error('request failed', {
        method: req.method,
        url: req.url,
        error: (err as Error)?.stack ?? String(err),
      });
    }
    void reply.status(e.status).type('application/json').send(e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new DroverError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.status(e.status).send(e.toJSON());
  });

  route(app, ctx, 'GET', '/api/v1/openapi.json', 'public', async () => openApiDocument);
  route(app, ctx, 'GET', '/api/v1/health', 'public', async () => ({ ok: true }));
  tokensRoutes(app, ctx);
  workersRoutes(app, ctx);
  tasksRoutes(app, ctx);
  taskRuntimeRoutes(app, ctx);
  for (const p of opts.plugins ?? []) await p(app, ctx);
  return app;
}
