/**
 * API tests against a real server (127.0.0.1, port 0): auth (401/403 by role), validation and error
 * bodies, the OpenAPI document, the audit log, the HTTP state backend over the fenced routes, the admin
 * token file, and `drover server` as a real process with a clean SIGTERM shutdown.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshPgliteDataDir, openTestDb, type TestDb } from '../../test/helpers/db.ts';
import { DroverError } from '../errors.ts';
import type { HttpClient } from '../providers/types.ts';
import { HttpStateBackend } from '../scheduler/http-state-backend.ts';
import {
  call,
  ScriptedWorker,
  startTestServer,
  taskSpec,
  waitFor,
  type Json,
  type TestServer,
} from '../server/test-harness.ts';
import { registeredRoutes } from './app.ts';
import { openApiDocument } from './openapi.ts';

let tdb: TestDb;
let s: TestServer;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  tdb = await openTestDb();
  s = await startTestServer(tdb.db);
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await s.stop();
  await tdb.cleanup();
});

async function tokenOf(role: 'viewer' | 'operator' | 'approver' | 'admin' | 'worker'): Promise<string> {
  const r = await call(s.url, 'POST', '/api/v1/tokens', {
    token: s.adminToken,
    body: { role, name: `${role}-1` },
  });
  expect(r.status).toBe(201);
  expect(r.body.token).toMatch(/^drv_/);
  return r.body.token as string;
}

describe('auth', () => {
  it('refuses missing and invalid tokens (401) and weaker roles (403)', async () => {
    const none = await call(s.url, 'GET', '/api/v1/workers');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    const bad = await call(s.url, 'GET', '/api/v1/workers', { token: 'drv_nope' });
    expect(bad.status).toBe(401);

    const viewer = await tokenOf('viewer');
    const operator = await tokenOf('operator');
    const worker = await tokenOf('worker');
    const checks: [string, string, string, unknown, number][] = [
      [viewer, 'GET', '/api/v1/workers', undefined, 200],
      [viewer, 'GET', '/api/v1/tasks', undefined, 200],
      [viewer, 'POST', '/api/v1/tasks', taskSpec(), 403],
      [viewer, 'POST', '/api/v1/workers/register', { name: 'x', host: 'h', pid: 1, proxy_pid: 2 }, 403],
      [operator, 'POST', '/api/v1/tasks', taskSpec(), 201],
      [operator, 'POST', '/api/v1/tokens', { role: 'admin', name: 'escalate' }, 403],
      [worker, 'GET', '/api/v1/tasks', undefined, 403],
      [worker, 'POST', '/api/v1/tasks', taskSpec(), 403],
      [worker, 'POST', '/api/v1/workers/register', { name: 'x', host: 'h', pid: 1, proxy_pid: 2 }, 200],
    ];
    for (const [token, method, path, body, status] of checks) {
      const r = await call(s.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
      expect([method, path, r.status]).toEqual([method, path, status]);
      if (status === 403) expect(r.body.error.code).toBe('FORBIDDEN');
    }
  });

  it('a worker token cannot act for a worker another token registered', async () => {
    const w = new ScriptedWorker(s.url, await tokenOf('worker'), 'w');
    await w.register();
    const other = await tokenOf('worker');
    const r = await call(s.url, 'POST', `/api/v1/workers/${w.id}/heartbeat`, {
      token: other,
      body: { seq: 1, tasks: [] },
    });
    expect(r.status).toBe(403);
    const p = await call(s.url, 'GET', `/api/v1/workers/${w.id}/poll?wait_ms=0`, { token: other });
    expect(p.status).toBe(403);
  });

  it('writes every change to the audit log', async () => {
    const operator = await tokenOf('operator');
    const t = await call(s.url, 'POST', '/api/v1/tasks', { token: operator, body: taskSpec() });
    await call(s.url, 'POST', `/api/v1/tasks/${t.body.task_id}/cancel`, { token: operator });
    const { rows } = await s.db.query<{ actor: string; action: string; object: string }>(
      `SELECT actor, action, object FROM drover_audit ORDER BY id`,
    );
    expect(rows.map((r) => [r.actor, r.action])).toEqual([
      ['system', 'token.create'], // the bootstrap admin token
      ['admin', 'token.create'],
      ['operator-1', 'task.submit'],
      ['operator-1', 'task.cancel'],
    ]);
    // Tokens are stored only as hashes.
    const stored = await s.db.query<{ token_hash: string }>(`SELECT token_hash FROM drover_tokens`);
    for (const r of stored.rows) {
      expect(r.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(r.token_hash).not.toBe(operator);
    }
  });
});

describe('errors and validation', () => {
  it('answers bad input with a stable code, never a stack trace', async () => {
    const cases: [string, string, unknown, number, string][] = [
      [
        'POST',
        '/api/v1/tasks',
        { kind: 'explode', flock: { files: {} }, target: 'beta', artifacts: {} },
        400,
        'VALIDATION',
      ],
      ['POST', '/api/v1/tasks', { ...taskSpec(), extra: 1 }, 400, 'VALIDATION'],
      [
        'POST',
        '/api/v1/tasks',
        taskSpec({ flock: { files: { 'other.yaml': 'x: 1' } } }),
        400,
        'CONFIG_NOT_FOUND',
      ],
      [
        'POST',
        '/api/v1/tasks',
        taskSpec({ flock: { files: { 'flock.yaml': 'flock: [' } } }),
        400,
        'CONFIG_INVALID',
      ],
      [
        'POST',
        '/api/v1/tasks',
        taskSpec({ flock: { files: { 'flock.yaml': 'flock: Bad_Name' } } }),
        400,
        'CONFIG_INVALID',
      ],
      ['POST', '/api/v1/tokens', { role: 'god', name: 'x' }, 400, 'VALIDATION'],
      ['GET', '/api/v1/tasks/nope', undefined, 404, 'TASK_NOT_FOUND'],
      ['POST', '/api/v1/tasks/nope/pause', undefined, 404, 'TASK_NOT_FOUND'],
      ['GET', '/api/v1/nothing-here', undefined, 404, 'NOT_FOUND'],
      ['GET', '/api/v1/tasks?limit=-1', undefined, 400, 'VALIDATION'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(s.url, method, path, {
        token: s.adminToken,
        ...(body !== undefined ? { body } : {}),
      });
      expect([method, path, r.status, r.body?.error?.code]).toEqual([method, path, status, code]);
      expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/);
    }
    const raw = await fetch(`${s.url}/api/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' },
      body: '{"kind":',
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as Json).error.code).toBe('VALIDATION');
  });

  it('publishes an OpenAPI document describing every route', async () => {
    const r = await call(s.url, 'GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(openApiDocument.paths))
      for (const m of Object.keys(ops)) documented.add(`${m.toUpperCase()} ${path}`);
    const routes = registeredRoutes(s.app).map((x) => `${x.method} ${x.url.replace(/:([a-z_]+)/g, '{$1}')}`);
    expect(routes.length).toBeGreaterThan(15);
    for (const route of routes) expect(documented).toContain(route);
    for (const d of documented) expect(routes).toContain(d);
  });
});

describe('HTTP state backend over the fenced routes', () => {
  it('loads, records intents and commits through the fence, and is refused once stale', async () => {
    const w = new ScriptedWorker(s.url, await tokenOf('worker'), 'w');
    await w.register();
    w.keepAlive();
    cleanups.push(() => w.stopHeartbeats());
    const sub = await call(s.url, 'POST', '/api/v1/tasks', { token: s.adminToken, body: taskSpec() });
    const id = sub.body.task_id as string;
    await waitFor(
      'assigned',
      async () =>
        (await call(s.url, 'GET', `/api/v1/tasks/${id}`, { token: s.adminToken })).body.status === 'assigned',
    );
    let fence = `${id}:1`;
    // What the proxy does for the task: add the worker's bearer token and the fence.
    const http: HttpClient = {
      async request(req) {
        const r = await call(req.url, req.method, '', {
          token: w.token,
          fence,
          ...(req.body !== undefined ? { body: req.body } : {}),
        });
        return { status: r.status, headers: {}, body: r.body };
      },
    };
    const state = new HttpStateBackend({ http, serverUrl: s.url, taskId: id });
    const empty = await state.load('hello', 'beta');
    expect(empty.serial).toBe(0);
    expect(empty.resources.size).toBe(0);
    const intent = {
      address: 'net',
      type: 'sim.network',
      idempotencyKey: 'k-1',
      properties: { cidr: '10.0.0.0/16' },
      dependencies: [],
      createdAt: new Date().toISOString(),
    };
    await state.putIntent('hello', 'beta', intent);
    expect((await state.load('hello', 'beta')).intents.get('net')).toMatchObject({ idempotencyKey: 'k-1' });
    const resource = {
      address: 'net',
      type: 'sim.network',
      id: 'net-1',
      properties: { cidr: '10.0.0.0/16' },
      attributes: { id: 'net-1', cidr: '10.0.0.0/16' },
      dependencies: [],
    };
    expect(
      await state.commit('hello', 'beta', { kind: 'put', resource, action: 'create' }, { clearIntent: true }),
    ).toBe(1);
    const after = await state.load('hello', 'beta');
    expect(after.serial).toBe(1);
    expect(after.lineage).toBe(empty.lineage);
    expect(after.intents.size).toBe(0);
    expect(after.resources.get('net')).toMatchObject({ id: 'net-1', attributes: { id: 'net-1' } });
    await state.putIntent('hello', 'beta', { ...intent, address: 'vm', idempotencyKey: 'k-2' });
    await state.clearIntent('hello', 'beta', 'vm');
    expect((await state.load('hello', 'beta')).intents.size).toBe(0);
    // Another target's state is out of bounds.
    await expect(state.load('hello', 'prod')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // A stale token: refused, and nothing is written.
    fence = `${id}:0`;
    const err = await state
      .commit('hello', 'beta', { kind: 'remove', address: 'net', action: 'delete' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DroverError);
    expect((err as DroverError).code).toBe('STALE_FENCE');
    fence = `${id}:1`;
    expect((await state.load('hello', 'beta')).serial).toBe(1);
  });
});

describe('server lifecycle', () => {
  it('writes the admin token once (0600) and reuses it on the next start', async () => {
    const file = join(s.dataDir, 'admin.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(s.adminToken);
    const dataDir = s.dataDir;
    await s.close();
    const created: string[] = [];
    s = await startTestServer(tdb.db, { dataDir, onAdminTokenCreated: (t) => created.push(t) });
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    expect(created).toEqual([]);
    expect(s.adminToken).toBe(readFileSync(file, 'utf8').trim());
    expect((await call(s.url, 'GET', '/api/v1/workers', { token: s.adminToken })).status).toBe(200);
  });

  it('`drover server` runs as a process, prints the admin token once, and exits 0 on SIGTERM', async () => {
    // PGlite: a fresh migrated data directory; PostgreSQL: the test database (admin.token in a temp dir).
    let dataDir = mkdtempSync(join(tmpdir(), 'drover-server-cli-'));
    const tmp = dataDir;
    cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
    if (!tdb.url) {
      dataDir = await freshPgliteDataDir();
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    }
    const storeArgs = ['--data-dir', dataDir, ...(tdb.url ? ['--database-url', tdb.url] : [])];
    const bin = fileURLToPath(new URL('../../bin/drover.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'server', '--port', '0', ...storeArgs], {
      env: { ...process.env, DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const url = await waitFor(
      'listening',
      async () => /listening on (http:\/\/\S+)/.exec(out)?.[1],
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nstdout: ${out}\nstderr: ${err}`);
    });
    const token = /admin token[^\n]*\n(drv_\S+)/.exec(out)?.[1];
    expect(token).toBeDefined();
    expect(readFileSync(join(dataDir, 'admin.token'), 'utf8').trim()).toBe(token);
    const health = await call(url, 'GET', '/api/v1/workers', { token: token! });
    expect(health.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
