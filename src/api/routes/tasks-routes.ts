/**
 * @module api/routes/tasks-routes — tasks as users see them: submit (operator), show, list and logs
 * (viewer), and control: cancel, kill, pause, resume (operator).
 */
import type { FastifyInstance } from 'fastify';
import { DroverError } from '../../errors.ts';
import type { ControlAction } from '../../scheduler/sql/control.ts';
import { getTask, listTasks, readEvents } from '../../scheduler/sql/tasks.ts';
import { param, query, route, type ApiContext } from '../context.ts';
import { parse, SubmitBody } from '../schemas.ts';
import { taskView } from '../views.ts';

const CONTROLS = ['cancel', 'kill', 'pause', 'resume'] as const satisfies readonly ControlAction[];

function intParam(raw: string | undefined, dflt: number, what: string): number {
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new DroverError('VALIDATION', `${what} must be a non-negative integer`);
  return n;
}

export function tasksRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const s = ctx.scheduler;

  route(app, ctx, 'POST', '/api/v1/tasks', 'operator', async (req, reply, caller) => {
    const body = parse(SubmitBody, req.body, 'task');
    const task = await s.submit(body, caller);
    reply.code(201);
    return { ...taskView(task), task_id: task.id, status: task.status };
  });

  route(app, ctx, 'GET', '/api/v1/tasks', 'viewer', async (req) => {
    const q = query(req);
    const rows = await listTasks(ctx.db, {
      ...(q['status'] ? { status: q['status'] } : {}),
      limit: Math.min(intParam(q['limit'], 100, 'limit'), 1000),
    });
    return { tasks: rows.map(taskView) };
  });

  route(app, ctx, 'GET', '/api/v1/tasks/:id', 'viewer', async (req) => {
    const task = await getTask(ctx.db, param(req, 'id'));
    if (!task) throw new DroverError('TASK_NOT_FOUND', `no task ${param(req, 'id')}`);
    return taskView(task);
  });

  route(app, ctx, 'GET', '/api/v1/tasks/:id/logs', 'viewer', async (req) => {
    const id = param(req, 'id');
    const q = query(req);
    const after = intParam(q['after'], 0, 'after');
    const limit = Math.min(intParam(q['limit'], 1000, 'limit') || 1000, 5000);
    const task = await getTask(ctx.db, id);
    if (!task) throw new DroverError('TASK_NOT_FOUND', `no task ${id}`);
    const events = await readEvents(ctx.db, id, after, limit);
    const next = events.length ? events[events.length - 1]!.seq : after;
    return {
      task_id: id,
      status: task.status,
      lines: events.map((e) => e.event),
      events: events.map((e) => ({
        seq: e.seq,
        at: new Date(e.at).toISOString(),
        token: e.token,
        event: e.event,
      })),
      next,
    };
  });

  for (const action of CONTROLS) {
    route(app, ctx, 'POST', `/api/v1/tasks/:id/${action}`, 'operator', async (req, _reply, caller) => {
      return taskView(await s.control(param(req, 'id'), action, caller));
    });
  }
}
