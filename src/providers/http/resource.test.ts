import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext } from '../testing.ts';
import { ProviderError, TransientError } from '../types.ts';
import { httpResource } from './index.ts';

// A small real REST service: /api/items with Idempotency-Key support, and switches to misbehave.
let server: Server;
let endpoint: string;
const items = new Map<string, { id: string; key?: string; [k: string]: unknown }>();
let nextId = 1;
let failNext: number | undefined;
const seen: { method: string; url: string; key?: string; auth?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const key = req.headers['idempotency-key'] as string | undefined;
      seen.push({
        method: req.method!,
        url: req.url!,
        ...(key ? { key } : {}),
        ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
      });
      const send = (status: number, body?: unknown) => {
        res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
        res.end(body === undefined ? undefined : JSON.stringify(body));
      };
      if (failNext !== undefined) {
        const s = failNext;
        failNext = undefined;
        return send(s, { error: { code: s === 400 ? 'BAD_COLOUR' : 'OOPS', message: 'as asked' } });
      }
      const u = new URL(req.url!, 'http://x');
      const m = u.pathname.match(/^\/api\/items(?:\/([^/]+))?$/);
      if (!m) return send(404, { error: { code: 'NOT_FOUND' } });
      const id = m[1] ? decodeURIComponent(m[1]) : undefined;
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      if (req.method === 'POST' && !id) {
        const existing = [...items.values()].find((i) => key && i.key === key);
        if (existing) return send(200, { data: existing });
        const item = { ...body, id: `item-${nextId++}`, ...(key ? { key } : {}) };
        items.set(item.id, item);
        return send(201, { data: item });
      }
      if (req.method === 'GET' && !id) {
        const k = u.searchParams.get('key');
        return send(
          200,
          [...items.values()].filter((i) => i.key === k).map((i) => ({ data: i })),
        );
      }
      const item = id ? items.get(id) : undefined;
      if (!item) return send(404, { error: { code: 'NOT_FOUND' } });
      if (req.method === 'GET') return send(200, { data: item });
      if (req.method === 'PUT') {
        const next = { ...body, id: item.id, ...(item.key ? { key: item.key } : {}) };
        items.set(item.id, next);
        return send(204);
      }
      if (req.method === 'DELETE') {
        items.delete(item.id);
        return send(204);
      }
      return send(405);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function props(extra: Record<string, unknown> = {}) {
  return {
    endpoint,
    create: { path: '/items' },
    read: { path: '/items/{id}' },
    update: { path: '/items/{id}' },
    delete: { path: '/items/{id}' },
    lookup: { path: '/items?key={idempotency_key}' },
    id_field: 'data.id',
    headers: { authorization: 'Bearer t' },
    body: { colour: 'blue' },
    ...extra,
  };
}

describe('http.resource', () => {
  it('validates strictly', () => {
    expect(httpResource.schema.safeParse(props()).success).toBe(true);
    expect(httpResource.schema.safeParse({ ...props(), extra: 1 }).success).toBe(false);
    expect(httpResource.schema.safeParse({ ...props(), create: { path: '/x', verb: 'POST' } }).success).toBe(
      false,
    );
  });

  it('creates once per idempotency key, reads, updates, deletes', async () => {
    const ctx = testContext();
    const p = props();
    const a = await httpResource.create(ctx, p, { idempotencyKey: 'key-a' });
    const again = await httpResource.create(ctx, p, { idempotencyKey: 'key-a' });
    expect(a.id).toMatch(/^item-\d+$/);
    expect(again.id).toBe(a.id);
    expect([...items.values()].filter((i) => i.key === 'key-a')).toHaveLength(1);
    expect(seen.at(-1)).toMatchObject({ method: 'POST', key: 'key-a', auth: 'Bearer t' });
    expect(a.response).toMatchObject({ data: { colour: 'blue' } });

    const r = await httpResource.read(ctx, a.id, p);
    expect(r).toMatchObject({ id: a.id, response: { data: { colour: 'blue' } } });

    const p2 = props({ body: { colour: 'green' } });
    const u = await httpResource.update!(ctx, a.id, p2, a);
    expect(u).toMatchObject({ id: a.id, response: { data: { colour: 'green' } } });

    await httpResource.delete(ctx, a.id, u);
    expect(await httpResource.read(ctx, a.id, p2)).toBeNull();
    await httpResource.delete(ctx, a.id, u); // gone already: fine
  });

  it('finds what a crashed create made by its key', async () => {
    const ctx = testContext();
    const made = await httpResource.create(ctx, props(), { idempotencyKey: 'crash-key' });
    expect(await httpResource.lookup(ctx, { idempotencyKey: 'crash-key', props: props() })).toMatchObject({
      id: made.id,
    });
    expect(await httpResource.lookup(ctx, { idempotencyKey: 'never-used', props: props() })).toBeNull();
    const { lookup: _omit, ...noLookup } = props();
    expect(await httpResource.lookup(ctx, { idempotencyKey: 'crash-key', props: noLookup })).toBeNull();
  });

  it('without an update request, update makes it anew', async () => {
    const ctx = testContext();
    const { update: _omit, ...p } = props();
    const a = await httpResource.create(ctx, p, { idempotencyKey: 'no-upd' });
    const b = await httpResource.update!(ctx, a.id, { ...p, body: { colour: 'red' } }, a);
    expect(b.id).not.toBe(a.id);
    expect(items.has(a.id)).toBe(false);
    expect(items.get(b.id)).toMatchObject({ colour: 'red' });
  });

  it('maps 5xx and 429 to TransientError and 4xx to ProviderError with the service code', async () => {
    const ctx = testContext();
    failNext = 503;
    await expect(httpResource.create(ctx, props(), { idempotencyKey: 'x' })).rejects.toBeInstanceOf(
      TransientError,
    );
    failNext = 429;
    await expect(httpResource.read(ctx, 'item-1', props())).rejects.toBeInstanceOf(TransientError);
    failNext = 400;
    const p = httpResource.create(ctx, props(), { idempotencyKey: 'y' });
    await expect(p).rejects.toBeInstanceOf(ProviderError);
    await expect(p).rejects.toMatchObject({ status: 400, code: 'BAD_COLOUR' });
  });

  it('maps a refused connection to TransientError', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(
      httpResource.read(testContext(), 'a', props({ endpoint: `http://127.0.0.1:${port}` })),
    ).rejects.toBeInstanceOf(TransientError);
  });

  it('fails clearly when the create answer has no id', async () => {
    await expect(
      httpResource.create(testContext(), props({ id_field: 'nope' }), { idempotencyKey: 'z' }),
    ).rejects.toMatchObject({ code: 'NO_ID' });
  });
});
