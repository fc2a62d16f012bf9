/**
 * @module api/routes/workers-routes — the worker side of the scheduler protocol (register, heartbeat,
 * long poll, deregister; role worker) and the fleet view (`GET /api/v1/workers`, viewer).
 */
import type { FastifyInstance } from 'fastify';
import { listWorkers } from '../../scheduler/sql/tasks.ts';
import { param, query, route, type ApiContext } from '../context.ts';
import { HeartbeatBody, parse, RegisterBody } from '../schemas.ts';
import { workerView } from '../views.ts';

export function workersRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const s = ctx.scheduler;

  route(app, ctx, 'POST', '/api/v1/workers/register', 'worker', async (req, _reply, caller) => {
    return s.register(parse(RegisterBody, req.body, 'registration'), caller);
  });

  route(app, ctx, 'POST', '/api/v1/workers/:id/heartbeat', 'worker', async (req, _reply, caller) => {
    return s.heartbeat(param(req, 'id'), parse(HeartbeatBody, req.body, 'heartbeat'), caller);
  });

  route(app, ctx, 'GET', '/api/v1/workers/:id/poll', 'worker', async (req, reply, caller) => {
    const raw = query(req)['wait_ms'];
    const known = query(req)['known'];
    const waitMs = raw === undefined ? 0 : Number(raw);
    const abort = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    reply.raw.on('close', onClose);
    try {
      return await s.poll(
        param(req, 'id'),
        Number.isFinite(waitMs) && waitMs > 0 ? waitMs : 0,
        caller,
        abort.signal,
        typeof known === 'string' ? known : undefined,
      );
    } finally {
      reply.raw.off('close', onClose);
    }
  });

  route(app, ctx, 'POST', '/api/v1/workers/:id/deregister', 'worker', async (req, _reply, caller) => {
    await s.deregister(param(req, 'id'), caller);
    return { worker_id: param(req, 'id'), status: 'gone' };
  });

  route(app, ctx, 'GET', '/api/v1/workers', 'viewer', async () => {
    const rows = await listWorkers(ctx.db);
    return { workers: rows.map((w) => workerView(w, s.timing)) };
  });
}
