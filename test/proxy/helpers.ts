/**
 * Test helpers for the proxy and worker: a recording upstream (a "service" the task calls) and a small
 * stand-in of the scheduler's worker API — real HTTP servers on 127.0.0.1:0, acks signed with the real
 * protocol helpers — for mechanics tests that must not depend on the server being built alongside.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { signAck, type Assignment, type LeaseAck } from '../../src/scheduler/protocol.ts';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The body's bytes as they arrived. */
  readonly raw: Buffer;
  /** Set when the caller's connection closed before the answer was sent. */
  aborted: boolean;
  answered: boolean;
  /** Date.now() when the request arrived. */
  readonly at?: number;
}

export interface Running {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Records every request; `/slow?ms=N` answers after N ms (and notes if the caller cut it first). */
export async function startUpstream(): Promise<Running & { readonly seen: Recorded[] }> {
  const seen: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        raw: Buffer.concat(chunks),
        aborted: false,
        answered: false,
        at: Date.now(),
      };
      seen.push(rec);
      const u = new URL(req.url ?? '/', 'http://x');
      const answer = (): void => {
        if (rec.aborted) return;
        rec.answered = true;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, path: u.pathname }));
      };
      res.on('close', () => {
        if (!rec.answered) rec.aborted = true;
      });
      if (u.pathname === '/slow') setTimeout(answer, Number(u.searchParams.get('ms') ?? 5000));
      else answer();
    });
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, port, seen, close: () => closeServer(server) };
}

export interface StubTask {
  token: number;
  kind: string;
  spec: Record<string, unknown>;
  control: Assignment['control'];
}

export interface StubScheduler extends Running {
  readonly token: string;
  readonly ackKey: string;
  readonly ttlMs: number;
  /** task id → assignment (what the acks and assignments list). */
  readonly tasks: Map<string, StubTask>;
  readonly heartbeats: { seq: number; tasks: string[]; at: number }[];
  readonly completions: { task: string; fence: string | undefined; body: unknown }[];
  readonly events: { task: string; fence: string | undefined; body: unknown }[];
  readonly requests: Recorded[];
  /** 'ok' (sign with the key), 'forge' (sign with another key), 'silent' (never answer heartbeats), 'error' (500). */
  heartbeatMode: 'ok' | 'forge' | 'silent' | 'error';
  workerId: string | null;
}

/**
 * The scheduler's worker API, just enough for the proxy and the worker: register, heartbeat (signed
 * acks listing `tasks`), poll, and the task routes.
 */
export async function startStubScheduler(
  opts: { ttlMs?: number; marginMs?: number; heartbeatMs?: number; graceMs?: number } = {},
): Promise<StubScheduler> {
  const token = `wt-${randomBytes(8).toString('hex')}`;
  const ackKey = randomBytes(32).toString('hex');
  const ttlMs = opts.ttlMs ?? 1_500;
  const pendingPolls = new Set<http.ServerResponse>();
  const state: Omit<StubScheduler, 'url' | 'port' | 'close'> = {
    token,
    ackKey,
    ttlMs,
    tasks: new Map(),
    heartbeats: [],
    completions: [],
    events: [],
    requests: [],
    heartbeatMode: 'ok',
    workerId: null,
  };
  const assignments = (): Assignment[] =>
    [...state.tasks].map(([task_id, t]) => ({
      task_id,
      token: t.token,
      kind: t.kind as Assignment['kind'],
      spec: t.spec as unknown as Assignment['spec'],
      control: t.control,
    }));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = raw.toString('utf8');
      state.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text,
        raw,
        aborted: false,
        answered: true,
      });
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${token}`)
        return json(401, { error: { code: 'UNAUTHORIZED', message: 'bad token' } });
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      const u = new URL(req.url ?? '/', 'http://x');
      const p = u.pathname.split('/').filter(Boolean); // api v1 …
      if (u.pathname === '/api/v1/workers/register') {
        state.workerId = `w-${randomBytes(4).toString('hex')}`;
        return json(201, {
          worker_id: state.workerId,
          ack_key: ackKey,
          heartbeat_ms: opts.heartbeatMs ?? 300,
          lease_ttl_ms: ttlMs,
          lease_grace_ms: opts.graceMs ?? 1_000,
          margin_ms: opts.marginMs ?? 300,
          got: body,
        });
      }
      if (p[2] === 'workers' && p[4] === 'heartbeat') {
        state.heartbeats.push({
          seq: Number(body['seq']),
          tasks: (body['tasks'] as string[]) ?? [],
          at: Date.now(),
        });
        if (state.heartbeatMode === 'silent') return; // never answered (the proxy times out)
        if (state.heartbeatMode === 'error')
          return json(500, { error: { code: 'INTERNAL', message: 'down' } });
        const now = Date.now();
        const ack: LeaseAck = {
          worker_id: p[3] ?? '',
          seq: Number(body['seq']),
          issued_at: new Date(now).toISOString(),
          lease_ttl_ms: ttlMs,
          lease_expires_at: new Date(now + ttlMs).toISOString(),
          tasks: [...state.tasks].map(([task_id, t]) => ({ task_id, token: t.token })),
        };
        const key = state.heartbeatMode === 'forge' ? randomBytes(32).toString('hex') : ackKey;
        return json(200, { ack, sig: signAck(key, ack), assignments: assignments() });
      }
      if (p[2] === 'workers' && p[4] === 'poll') {
        const wait = Math.min(Number(u.searchParams.get('wait_ms') ?? 0), 500);
        pendingPolls.add(res);
        setTimeout(() => {
          pendingPolls.delete(res);
          if (!res.writableEnded) json(200, { assignments: assignments() });
        }, wait);
        return;
      }
      if (p[2] === 'tasks' && p[4] === 'spec') {
        const t = state.tasks.get(p[3] ?? '');
        if (!t) return json(404, { error: { code: 'TASK_NOT_FOUND', message: 'no such task' } });
        return json(200, { task_id: p[3], token: t.token, kind: t.kind, flock: 'test', spec: t.spec });
      }
      if (p[2] === 'tasks' && p[4] === 'complete') {
        state.completions.push({
          task: p[3] ?? '',
          fence: req.headers['drover-fence'] as string | undefined,
          body,
        });
        return json(200, { ok: true });
      }
      if (p[2] === 'tasks' && p[4] === 'events') {
        state.events.push({
          task: p[3] ?? '',
          fence: req.headers['drover-fence'] as string | undefined,
          body,
        });
        return json(200, { ok: true });
      }
      return json(404, { error: { code: 'NOT_FOUND', message: u.pathname } });
    });
  });
  const port = await listen(server);
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      for (const r of pendingPolls) r.destroy();
      await closeServer(server);
    },
  }) as StubScheduler;
}

/** A private temp directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One HTTP request over a unix socket or to a port, with optional absolute-form target. */
export function rawRequest(
  where: { socketPath: string } | { port: number },
  opts: {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    timeoutMs?: number;
  },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...('socketPath' in where ? { socketPath: where.socketPath } : { host: '127.0.0.1', port: where.port }),
      method: opts.method ?? 'GET',
      path: opts.path,
      headers: {
        ...(opts.body
          ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(opts.body)) }
          : {}),
        ...opts.headers,
      },
      agent: false,
    });
    const timer = setTimeout(
      () => req.destroy(new Error('test request timed out')),
      opts.timeoutMs ?? 10_000,
    );
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(opts.body);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
