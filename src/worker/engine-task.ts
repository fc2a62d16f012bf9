/**
 * @module worker/engine-task — plan / apply / destroy of one flock on one target, inside a task process:
 * the engine with the task's proxy HttpClient (providers' calls are signed and fenced by the proxy) and
 * the server's state API as its StateBackend (fenced by the lease token the proxy adds).
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DroverError } from '../errors.ts';
import { loadFlock } from '../config/index.ts';
import { apply, plan, type Plan } from '../engine/index.ts';
import { defaultCatalog } from '../providers/index.ts';
import { HttpStateBackend } from '../scheduler/http-state-backend.ts';
import type { TaskSpec } from '../scheduler/protocol.ts';
import { stageInputs } from './sandbox.ts';
import type { TaskContext } from './task-main.ts';

export async function runEngineTask(
  kind: 'plan' | 'apply' | 'destroy',
  raw: Record<string, unknown>,
  ctx: TaskContext,
): Promise<unknown> {
  const spec = raw as unknown as TaskSpec;
  if (!spec.flock?.files || typeof spec.target !== 'string') {
    throw new DroverError('VALIDATION', 'task spec: expected { flock: { files }, target, artifacts }');
  }
  const flockDir = path.join(ctx.staging, 'inputs', 'flock');
  if (!existsSync(path.join(flockDir, 'flock.yaml'))) stageInputs(ctx.staging, spec.flock.files);
  const catalog = defaultCatalog();
  const config = await loadFlock(flockDir, catalog);
  const state = new HttpStateBackend({
    http: ctx.http,
    serverUrl: process.env['DROVER_SERVER'] ?? 'http://127.0.0.1:7800',
    taskId: ctx.taskId,
  });
  const opts = {
    catalog,
    state,
    http: ctx.http,
    signal: ctx.signal,
    env: process.env,
    ...(spec.parallelism ? { parallelism: spec.parallelism } : {}),
    log: {
      info: (msg: string, fields?: Record<string, unknown>) => ctx.log(msg, { level: 'info', ...fields }),
      warn: (msg: string, fields?: Record<string, unknown>) => ctx.log(msg, { level: 'warn', ...fields }),
      error: (msg: string, fields?: Record<string, unknown>) => ctx.log(msg, { level: 'error', ...fields }),
    },
    onEvent: (e: unknown) => ctx.log('engine', { event: e }),
  };
  const inputs = {
    target: spec.target,
    artifacts: spec.artifacts ?? {},
    ...(spec.release_id ? { releaseId: spec.release_id } : {}),
    executionId: `${ctx.taskId}-${ctx.token}`,
    ...(kind === 'destroy' ? { destroy: true } : {}),
  };
  const outputs = path.join(ctx.staging, 'outputs');
  if (kind === 'plan') {
    const p = await plan(config, inputs, opts);
    writeFileSync(path.join(outputs, 'plan.json'), JSON.stringify(p, null, 2));
    return { plan: p };
  }
  const result = await apply(config, inputs, {
    ...opts,
    ...(spec.plan ? { approvedPlan: spec.plan as Plan } : {}),
  });
  writeFileSync(path.join(outputs, 'result.json'), JSON.stringify(result, null, 2));
  if (!result.ok) {
    const failed = result.results.filter((r) => !r.ok).map((r) => `${r.address}: ${r.error ?? 'failed'}`);
    throw new DroverError('APPLY_FAILED', `${failed.length} operation(s) failed: ${failed.join('; ')}`, {
      details: { results: result.results },
    });
  }
  return { serial: result.serial, results: result.results, plan: result.plan };
}
