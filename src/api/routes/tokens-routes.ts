/**
 * @module api/routes/tokens-routes — `POST /api/v1/tokens` (admin): mint a bearer token of a role.
 * The token is answered once and stored only as a hash.
 */
import type { FastifyInstance } from 'fastify';
import { audit } from '../audit.ts';
import { mintToken } from '../auth.ts';
import { route, type ApiContext } from '../context.ts';
import { parse, TokenBody } from '../schemas.ts';

export function tokensRoutes(app: FastifyInstance, ctx: ApiContext): void {
  route(app, ctx, 'POST', '/api/v1/tokens', 'admin', async (req, reply, caller) => {
    const body = parse(TokenBody, req.body, 'token request');
    const minted = await ctx.db.transaction(async (tx) => {
      const m = await mintToken(tx, body.role, body.name);
      await audit(tx, caller.name, 'token.create', m.id, { role: body.role, name: body.name });
      return m;
    });
    reply.code(201);
    return { token: minted.token, id: minted.id, role: body.role, name: body.name };
  });
}
