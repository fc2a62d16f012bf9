/**
 * @module api/schemas — request bodies and parameters the API accepts, as zod schemas; anything else
 * is refused with VALIDATION (400) naming each problem.
 */
import { z } from 'zod';
import { DroverError, type Problem } from '../errors.ts';
import { ROLES, TASK_KINDS } from '../scheduler/protocol.ts';

const name = z.string().min(1).max(200);

export const RegisterBody = z.object({
  name,
  host: z.string().min(1).max(255),
  pid: z.number().int().nonnegative(),
  proxy_pid: z.number().int().nonnegative(),
  capacity: z.number().int().min(1).max(1000).optional(),
});

export const HeartbeatBody = z.object({
  seq: z.number().int().nonnegative(),
  tasks: z.array(z.string().max(200)).max(10_000).default([]),
});

export const SubmitBody = z.strictObject({
  kind: z.enum(TASK_KINDS),
  flock: z.strictObject({ files: z.record(z.string().min(1).max(255), z.string()) }),
  target: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a target name ([a-z][a-z0-9-]{0,62})'),
  artifacts: z.record(z.string().min(1), z.string()).default({}),
  release_id: z.string().min(1).max(200).optional(),
  parallelism: z.number().int().min(1).max(1000).optional(),
  plan: z.unknown().optional(),
});

export const TokenBody = z.strictObject({ role: z.enum(ROLES), name });

export const EventsBody = z.object({
  token: z.number().int().nonnegative().optional(),
  events: z.array(z.unknown()).max(10_000),
});

export const CompleteBody = z.object({
  status: z.enum(['succeeded', 'failed']),
  result: z.unknown().optional(),
  error: z.unknown().optional(),
});

export const IntentBody = z.object({
  address: z.string().min(1),
  type: z.string().min(1),
  idempotencyKey: z.string().min(1),
  properties: z.record(z.string(), z.unknown()),
  dependencies: z.array(z.string()),
  createdAt: z.string().min(1),
});

const ResourceBody = z.object({
  address: z.string().min(1),
  type: z.string().min(1),
  id: z.string(),
  properties: z.record(z.string(), z.unknown()),
  attributes: z.looseObject({ id: z.string() }),
  dependencies: z.array(z.string()),
  releaseId: z.string().optional(),
  executionId: z.string().optional(),
  status: z.enum(['SUCCEEDED', 'FAILED']).optional(),
});

export const CommitBody = z.object({
  change: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('put'), resource: ResourceBody, action: z.string().min(1) }),
    z.object({ kind: z.literal('remove'), address: z.string().min(1), action: z.string().min(1) }),
  ]),
  clearIntent: z.boolean().optional(),
});

export const StateQuery = z.object({ flock: z.string().min(1), target: z.string().min(1) });

/** Parses `value` or throws VALIDATION listing every problem (`path: message`). */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const problems: Problem[] = r.error.issues.map((i) => ({
    message: `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`,
  }));
  throw new DroverError('VALIDATION', `invalid ${what}: ${problems.map((p) => p.message).join('; ')}`, {
    problems,
  });
}
