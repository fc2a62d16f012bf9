/**
 * @module api/context — what every route file is handed: the scheduler, the authenticator, the store,
 * and a small helper that declares a route with its access rule (checked before the handler runs).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { Caller, Scheduler } from '../scheduler/scheduler.ts';
import type { Db } from '../store/types.ts';
import { requireAccess, type Access, type Authenticator } from './auth.ts';

export interface ApiContext {
  readonly db: Db;
  readonly scheduler: Scheduler;
  readonly auth: Authenticator;
}

export type Handler = (req: FastifyRequest, reply: FastifyReply, caller: Caller) => Promise<unknown>;

/** Declares a route; `access` is enforced (401 without a valid token, 403 with a weaker role). */
export function route(
  app: FastifyInstance,
  ctx: ApiContext,
  method: HTTPMethods,
  url: string,
  access: Access,
  handler: Handler,
): void {
  app.route({
    method,
    url,
    handler: async (req, reply) => {
      const caller: Caller =
        access === 'public'
          ? { tokenId: '', name: 'anonymous', role: 'viewer' }
          : await ctx.auth.authenticate(req.headers.authorization);
      if (access !== 'public') requireAccess(caller, access);
      return handler(req, reply, caller);
    },
  });
}

/** The route's `:name` parameter. */
export function param(req: FastifyRequest, name: string): string {
  return (req.params as Record<string, string>)[name] ?? '';
}

export function query(req: FastifyRequest): Record<string, string | undefined> {
  return (req.query ?? {}) as Record<string, string | undefined>;
}
