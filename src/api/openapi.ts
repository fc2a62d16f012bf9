/**
 * @module api/openapi — the OpenAPI 3.1 document served at `/api/v1/openapi.json`, maintained by hand
 * beside the routes (a test checks every registered route is described here).
 */

const error = { $ref: '#/components/schemas/Error' };
const json = (schema: unknown): unknown => ({ content: { 'application/json': { schema } } });
const ok = (description: string, schema: unknown = { type: 'object' }): unknown => ({
  description,
  ...(json(schema) as object),
});
const errors = {
  '400': { description: 'invalid input (VALIDATION)', ...(json(error) as object) },
  '401': { description: 'missing or invalid token (UNAUTHORIZED)', ...(json(error) as object) },
  '403': {
    description: 'role too weak (FORBIDDEN) or lease not valid (LEASE_EXPIRED)',
    ...(json(error) as object),
  },
  '404': { description: 'no such object', ...(json(error) as object) },
  '409': { description: 'conflict (STALE_FENCE, TASK_ENDED, …)', ...(json(error) as object) },
};
const fenceHeader = {
  name: 'Drover-Fence',
  in: 'header',
  required: true,
  description: 'TASK_ID:TOKEN — added by the signing proxy',
  schema: { type: 'string' },
};
const idParam = (name = 'id'): unknown => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const stateQuery = [
  { name: 'flock', in: 'query', required: true, schema: { type: 'string' } },
  { name: 'target', in: 'query', required: true, schema: { type: 'string' } },
];

function op(summary: string, role: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    summary,
    description: `Role: ${role}.`,
    security: role === 'public' ? [] : [{ bearer: [] }],
    responses: { '200': ok(summary), ...errors },
    ...extra,
  };
}

const Assignment = {
  type: 'object',
  required: ['task_id', 'token', 'kind', 'spec', 'control'],
  properties: {
    task_id: { type: 'string' },
    token: { type: 'integer' },
    kind: { enum: ['plan', 'apply', 'destroy', 'noop'] },
    spec: { $ref: '#/components/schemas/TaskSpec' },
    control: { enum: ['run', 'pause', 'cancel', 'kill'] },
  },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Drover API', version: '1', description: 'Scheduler, workers, tasks (SPEC.md §5, §8).' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              details: {},
              problems: { type: 'array' },
            },
          },
        },
      },
      TaskSpec: {
        type: 'object',
        required: ['kind', 'flock', 'target'],
        properties: {
          kind: { enum: ['plan', 'apply', 'destroy', 'noop'] },
          flock: {
            type: 'object',
            properties: { files: { type: 'object', additionalProperties: { type: 'string' } } },
          },
          target: { type: 'string' },
          artifacts: { type: 'object', additionalProperties: { type: 'string' } },
          release_id: { type: 'string' },
          parallelism: { type: 'integer', minimum: 1 },
          plan: {},
        },
      },
      Task: {
        type: 'object',
        properties: {
          task_id: { type: 'string' },
          kind: { type: 'string' },
          flock: { type: 'string' },
          target: { type: 'string' },
          status: { enum: ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'] },
          control: { enum: ['run', 'pause', 'cancel', 'kill'] },
          worker: { type: ['string', 'null'] },
          token: { type: 'integer' },
          attempts: { type: 'integer' },
          result: {},
          error: {},
        },
      },
      Worker: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          host: { type: 'string' },
          pid: { type: 'integer' },
          proxy_pid: { type: 'integer' },
          status: { enum: ['healthy', 'unhealthy', 'gone'] },
          capacity: { type: 'integer' },
          tasks: { type: 'array', items: { type: 'string' } },
          lease_expires_at: { type: 'string', format: 'date-time' },
        },
      },
      Assignment,
      LeaseAck: {
        type: 'object',
        required: ['worker_id', 'seq', 'issued_at', 'lease_ttl_ms', 'lease_expires_at', 'tasks'],
        properties: {
          worker_id: { type: 'string' },
          seq: { type: 'integer' },
          issued_at: { type: 'string', format: 'date-time' },
          lease_ttl_ms: { type: 'integer' },
          lease_expires_at: { type: 'string', format: 'date-time' },
          tasks: {
            type: 'array',
            items: {
              type: 'object',
              properties: { task_id: { type: 'string' }, token: { type: 'integer' } },
            },
          },
        },
      },
    },
  },
  paths: {
    '/api/v1/openapi.json': { get: op('this document', 'public') },
    '/api/v1/health': { get: op('liveness', 'public') },
    '/api/v1/tokens': {
      post: op('mint a bearer token {role, name} → {token} (shown once)', 'admin', {
        requestBody: json({
          type: 'object',
          required: ['role', 'name'],
          properties: { role: { type: 'string' }, name: { type: 'string' } },
        }),
        responses: { '201': ok('created'), ...errors },
      }),
    },
    '/api/v1/workers': {
      get: op('the worker fleet', 'viewer', {
        responses: {
          '200': ok('workers', {
            type: 'object',
            properties: { workers: { type: 'array', items: { $ref: '#/components/schemas/Worker' } } },
          }),
          ...errors,
        },
      }),
    },
    '/api/v1/workers/register': {
      post: op('register a worker → worker_id, ack_key (the proxy keeps it), timing', 'worker', {
        requestBody: json({
          type: 'object',
          required: ['name', 'host', 'pid', 'proxy_pid'],
          properties: {
            name: { type: 'string' },
            host: { type: 'string' },
            pid: { type: 'integer' },
            proxy_pid: { type: 'integer' },
            capacity: { type: 'integer' },
          },
        }),
      }),
    },
    '/api/v1/workers/{id}/heartbeat': {
      post: op(
        'heartbeat {seq, tasks} → {ack, sig (HMAC-SHA256 of the canonical ack), assignments}',
        'worker',
        {
          parameters: [idParam()],
          requestBody: json({
            type: 'object',
            required: ['seq'],
            properties: { seq: { type: 'integer' }, tasks: { type: 'array', items: { type: 'string' } } },
          }),
          responses: {
            '200': ok('acknowledged', {
              type: 'object',
              properties: {
                ack: { $ref: '#/components/schemas/LeaseAck' },
                sig: { type: 'string' },
                assignments: { type: 'array', items: Assignment },
              },
            }),
            ...errors,
          },
        },
      ),
    },
    '/api/v1/workers/{id}/poll': {
      get: op('long poll: answers when the assignment set changes, or after wait_ms', 'worker', {
        parameters: [
          idParam(),
          { name: 'wait_ms', in: 'query', schema: { type: 'integer' } },
          // The fingerprint of the worker's last poll answer: a different assignment set answers at once.
          { name: 'known', in: 'query', schema: { type: 'string' } },
        ],
      }),
    },
    '/api/v1/workers/{id}/deregister': {
      post: op('clean shutdown of a worker (gone)', 'worker', { parameters: [idParam()] }),
    },
    '/api/v1/tasks': {
      get: op('list tasks', 'viewer', {
        parameters: [
          { name: 'status', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer' } },
        ],
      }),
      post: op('submit a task', 'operator', {
        requestBody: json({ $ref: '#/components/schemas/TaskSpec' }),
        responses: { '201': ok('queued', { $ref: '#/components/schemas/Task' }), ...errors },
      }),
    },
    '/api/v1/tasks/{id}': {
      get: op('a task', 'viewer', {
        parameters: [idParam()],
        responses: { '200': ok('task', { $ref: '#/components/schemas/Task' }), ...errors },
      }),
    },
    '/api/v1/tasks/{id}/logs': {
      get: op('log events after seq N → {lines, events, next}', 'viewer', {
        parameters: [
          idParam(),
          { name: 'after', in: 'query', schema: { type: 'integer' } },
          { name: 'limit', in: 'query', schema: { type: 'integer' } },
        ],
      }),
    },
    '/api/v1/tasks/{id}/cancel': { post: op('cancel a task', 'operator', { parameters: [idParam()] }) },
    '/api/v1/tasks/{id}/kill': { post: op('kill a task', 'operator', { parameters: [idParam()] }) },
    '/api/v1/tasks/{id}/pause': { post: op('pause a task', 'operator', { parameters: [idParam()] }) },
    '/api/v1/tasks/{id}/resume': {
      post: op('resume a paused task', 'operator', { parameters: [idParam()] }),
    },
    '/api/v1/tasks/{id}/spec': {
      get: op('the task spec (fenced; assigned → running)', 'worker', {
        parameters: [idParam(), fenceHeader],
      }),
    },
    '/api/v1/tasks/{id}/events': {
      post: op('append log/progress events (fenced)', 'worker', {
        parameters: [idParam(), fenceHeader],
        requestBody: json({
          type: 'object',
          required: ['events'],
          properties: { token: { type: 'integer' }, events: { type: 'array' } },
        }),
      }),
    },
    '/api/v1/tasks/{id}/complete': {
      post: op('end the task, exactly once (fenced)', 'worker', {
        parameters: [idParam(), fenceHeader],
        requestBody: json({
          type: 'object',
          required: ['status'],
          properties: { status: { enum: ['succeeded', 'failed'] }, result: {}, error: {} },
        }),
      }),
    },
    '/api/v1/tasks/{id}/state': {
      get: op("the task's state snapshot (fenced)", 'worker', {
        parameters: [idParam(), fenceHeader, ...stateQuery],
      }),
    },
    '/api/v1/tasks/{id}/state/intents/{address}': {
      put: op('record a create intent (fenced)', 'worker', {
        parameters: [idParam(), idParam('address'), fenceHeader, ...stateQuery],
      }),
      delete: op('clear an intent (fenced)', 'worker', {
        parameters: [idParam(), idParam('address'), fenceHeader, ...stateQuery],
      }),
    },
    '/api/v1/tasks/{id}/state/commit': {
      post: op('record one state change {change, clearIntent} → {serial} (fenced)', 'worker', {
        parameters: [idParam(), fenceHeader, ...stateQuery],
      }),
    },
  } as Record<string, Record<string, unknown>>,
};
