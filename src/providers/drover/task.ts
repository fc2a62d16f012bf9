/**
 * @module providers/drover/task — what every deployment task (`drover.*`) shares.
 *
 * A task exists only in state: each run gets a fresh id and records `status`, `release_id`,
 * `execution_id` and `finished_at`; read answers with what state recorded; delete has nothing to
 * delete; lookup finds nothing (a crashed run simply runs again). A run that fails throws a
 * ProviderError and the engine records FAILED.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { defineType } from '../define.ts';
import type { Attributes, ProviderContext, ResourceType } from '../types.ts';

export interface TaskSpec<P extends Record<string, unknown>> {
  readonly type: string;
  readonly description: string;
  readonly schema: z.ZodType<P>;
  /** Runs the task; returns attributes it adds (beyond the properties and the run record). */
  readonly run: (ctx: ProviderContext, props: P) => Promise<Record<string, unknown>>;
}

export function defineTask<P extends Record<string, unknown>>(spec: TaskSpec<P>): ResourceType {
  const runOnce = async (ctx: ProviderContext, props: P): Promise<Attributes> => {
    const extra = await spec.run(ctx, props);
    return {
      ...props,
      ...extra,
      id: randomUUID(),
      status: 'SUCCEEDED',
      release_id: ctx.releaseId,
      execution_id: ctx.executionId,
      finished_at: new Date().toISOString(),
    };
  };
  return defineType<P>({
    type: spec.type,
    description: spec.description,
    schema: spec.schema,
    replaceOn: [],
    kind: 'task',
    read: async (_ctx, id, props, prior) => prior ?? { ...props, id },
    create: (ctx, props) => runOnce(ctx, props),
    // Running again is the only way to change a task.
    update: (ctx, _id, props) => runOnce(ctx, props),
    delete: async () => {},
    lookup: async () => null,
  });
}
