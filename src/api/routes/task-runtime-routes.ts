/**
 * @module api/routes/task-runtime-routes — the routes a running task uses through its worker's proxy
 * (role worker, `Drover-Fence: TASK_ID:TOKEN`): its spec, its log events, its completion, and the state
 * backend. Every one is fenced: refused (409 STALE_FENCE) unless the token is the task's current one and
 * the task is assigned and running, and (403 LEASE_EXPIRED) unless its worker's lease is valid; the check
 * and the write share one transaction holding the task's row lock.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DroverError } from '../../errors.ts';
import type { Intent, StateChange } from '../../engine/state-types.ts';
import { FENCE_HEADER, type TaskSpecResponse } from '../../scheduler/protocol.ts';
import type { FencedTask } from '../../scheduler/sql/fence.ts';
import { markRunning } from '../../scheduler/sql/fence.ts';
import { appendEvents } from '../../scheduler/sql/tasks.ts';
import { DbStateBackend } from '../../store/state-store.ts';
import { param, query, route, type ApiContext } from '../context.ts';
import { CommitBody, CompleteBody, EventsBody, IntentBody, parse, StateQuery } from '../schemas.ts';

function fenceOf(req: FastifyRequest): string | undefined {
  const h = req.headers[FENCE_HEADER];
  return Array.isArray(h) ? h[0] : h;
}

/** A task may read and write only the state of its own (flock, target). */
function ownState(req: FastifyRequest, task: FencedTask): { flock: string; target: string } {
  const q = parse(StateQuery, query(req), 'state query');
  if (q.flock !== task.flock || q.target !== task.target) {
    throw new DroverError(
      'FORBIDDEN',
      `task ${task.id} may only use the state of ${task.flock}/${task.target}`,
      {
        details: { task: task.id, flock: q.flock, target: q.target },
      },
    );
  }
  return q;
}

export function taskRuntimeRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const s = ctx.scheduler;

  route(app, ctx, 'GET', '/api/v1/tasks/:id/spec', 'worker', async (req, _reply, caller) => {
    const task = await s.fetchSpec(param(req, 'id'), fenceOf(req), caller);
    const out: TaskSpecResponse = {
      task_id: task.id,
      token: task.token,
      kind: task.kind,
      flock: task.flock,
      spec: task.spec,
    };
    return out;
  });

  route(app, ctx, 'POST', '/api/v1/tasks/:id/events', 'worker', async (req, _reply, caller) => {
    const body = parse(EventsBody, req.body, 'events');
    const id = param(req, 'id');
    const n = await s.fenced(id, fenceOf(req), caller, 'share', async (tx, task) => {
      if (body.token !== undefined && body.token !== task.token) {
        throw new DroverError(
          'STALE_FENCE',
          `events for token ${body.token}; the task's token is ${task.token}`,
        );
      }
      if (task.status === 'assigned') await markRunning(tx, id);
      return appendEvents(tx, id, task.token, body.events);
    });
    return { appended: n };
  });

  route(app, ctx, 'POST', '/api/v1/tasks/:id/complete', 'worker', async (req, _reply, caller) => {
    const body = parse(CompleteBody, req.body, 'completion');
    const status = await s.complete(param(req, 'id'), fenceOf(req), caller, body);
    return { task_id: param(req, 'id'), status };
  });

  route(app, ctx, 'GET', '/api/v1/tasks/:id/state', 'worker', async (req, _reply, caller) => {
    return s.fenced(param(req, 'id'), fenceOf(req), caller, 'share', async (tx, task) => {
      const { flock, target } = ownState(req, task);
      const snap = await new DbStateBackend(tx).load(flock, target);
      return {
        flock: snap.flock,
        target: snap.target,
        lineage: snap.lineage,
        serial: snap.serial,
        resources: [...snap.resources.values()],
        intents: [...snap.intents.values()],
      };
    });
  });

  route(
    app,
    ctx,
    'PUT',
    '/api/v1/tasks/:id/state/intents/:address',
    'worker',
    async (req, _reply, caller) => {
      const intent = parse(IntentBody, req.body, 'intent') as Intent;
      if (intent.address !== param(req, 'address')) {
        throw new DroverError(
          'VALIDATION',
          `the intent's address ${intent.address} differs from the route's ${param(req, 'address')}`,
        );
      }
      await s.fenced(param(req, 'id'), fenceOf(req), caller, 'share', async (tx, task) => {
        const { flock, target } = ownState(req, task);
        await new DbStateBackend(tx).putIntent(flock, target, intent);
      });
      return { ok: true };
    },
  );

  route(
    app,
    ctx,
    'DELETE',
    '/api/v1/tasks/:id/state/intents/:address',
    'worker',
    async (req, _reply, caller) => {
      await s.fenced(param(req, 'id'), fenceOf(req), caller, 'share', async (tx, task) => {
        const { flock, target } = ownState(req, task);
        await new DbStateBackend(tx).clearIntent(flock, target, param(req, 'address'));
      });
      return { ok: true };
    },
  );

  route(app, ctx, 'POST', '/api/v1/tasks/:id/state/commit', 'worker', async (req, _reply, caller) => {
    const body = parse(CommitBody, req.body, 'state commit');
    const serial = await s.fenced(param(req, 'id'), fenceOf(req), caller, 'share', async (tx, task) => {
      const { flock, target } = ownState(req, task);
      return new DbStateBackend(tx).commit(flock, target, body.change as StateChange, {
        clearIntent: body.clearIntent === true,
      });
    });
    return { serial };
  });
}
