/**
 * Scheduler tests against a real server (127.0.0.1, port 0) on the test database (PGlite, or a fresh
 * PostgreSQL database when DATABASE_URL is set): leases and their signed acknowledgements, least-loaded
 * assignment within capacity, expiry → unhealthy → reassignment after the grace with token + 1, fences,
 * exactly-once completion, restart, and several schedulers on one database.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { openTestDb, type TestDb } from '../../test/helpers/db.ts';
import { openStore } from '../store/index.ts';
import {
  call,
  FAST_TIMING,
  ScriptedWorker,
  startTestServer,
  taskSpec,
  waitFor,
  type Json,
  STEADY_TIMING,
  type TestServer,
} from '../server/test-harness.ts';
import type { Db } from '../store/types.ts';
import { Scheduler } from './scheduler.ts';
import { resolveTiming } from './timing.ts';
import {
  assignmentsPrint,
  canonicalJson,
  signAck,
  verifyAck,
  type LeaseAck,
  type PollResponse,
} from './protocol.ts';

const TTL = FAST_TIMING.leaseTtlMs!;
const GRACE = FAST_TIMING.leaseGraceMs!;
const LONG_GRACE = 3_000;

let tdb: TestDb;
let servers: TestServer[] = [];
let workers: ScriptedWorker[] = [];

async function server(opts: Parameters<typeof startTestServer>[1] = {}): Promise<TestServer> {
  const s = await startTestServer(tdb.db, opts);
  servers.push(s);
  return s;
}

async function worker(s: TestServer, name: string, capacity = 1): Promise<ScriptedWorker> {
  const w = new ScriptedWorker(s.url, await s.mintToken('worker', name), name, capacity);
  await w.register();
  workers.push(w);
  return w;
}

async function submit(s: TestServer, over: Parameters<typeof taskSpec>[0] = {}): Promise<string> {
  const r = await call(s.url, 'POST', '/api/v1/tasks', { token: s.adminToken, body: taskSpec(over) });
  expect(r.status).toBe(201);
  expect(r.body.status).toBe('queued');
  return r.body.task_id as string;
}

async function task(s: TestServer, id: string): Promise<Json> {
  const r = await call(s.url, 'GET', `/api/v1/tasks/${id}`, { token: s.adminToken });
  expect(r.status).toBe(200);
  return r.body;
}

const assignedTo = (s: TestServer, id: string, workerId: string) =>
  waitFor(`task ${id} assigned to ${workerId}`, async () => {
    const t = await task(s, id);
    return t.worker === workerId && (t.status === 'assigned' || t.status === 'running') ? t : undefined;
  });

describe('protocol helpers', () => {
  it('canonical JSON sorts keys at every level and the signature covers every field', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}',
    );
    const ack: LeaseAck = {
      worker_id: 'w',
      seq: 3,
      issued_at: '2024-01-01T00:00:00.000Z',
      lease_ttl_ms: 10_000,
      lease_expires_at: '2024-01-01T00:00:10.000Z',
      tasks: [{ task_id: 't', token: 2 }],
    };
    const key = 'ab'.repeat(32);
    const sig = signAck(key, ack);
    expect(verifyAck(key, { ...ack }, sig)).toBe(true);
    expect(verifyAck(key, { ...ack, tasks: [{ task_id: 't', token: 3 }] }, sig)).toBe(false);
    expect(verifyAck(key, { ...ack, lease_ttl_ms: 20_000 }, sig)).toBe(false);
    expect(verifyAck('cd'.repeat(32), ack, sig)).toBe(false);
    expect(verifyAck(key, ack, 'not-hex')).toBe(false);
  });
});

describe('scheduler', () => {
  beforeEach(async () => {
    tdb = await openTestDb();
  });

  afterEach(async () => {
    for (const w of workers) w.stopHeartbeats();
    workers = [];
    for (const s of servers) await s.stop();
    servers = [];
    await tdb.cleanup();
  });

  it('registers a worker and acknowledges heartbeats with a signed lease counted from receipt', async () => {
    const s = await server({ timing: FAST_TIMING });
    const w = new ScriptedWorker(s.url, await s.mintToken('worker', 'w1'), 'w1');
    workers.push(w);
    const reg = await w.register();
    expect(reg.ack_key).toMatch(/^[0-9a-f]{64}$/);
    expect(reg).toMatchObject({
      heartbeat_ms: 100,
      lease_ttl_ms: TTL,
      lease_grace_ms: GRACE,
      margin_ms: 100,
    });
    const before = Date.now();
    const hb = await w.heartbeat([]);
    const after = Date.now();
    expect(hb.ack).toMatchObject({ worker_id: w.id, seq: 1, lease_ttl_ms: TTL, tasks: [] });
    const issued = Date.parse(hb.ack.issued_at);
    expect(issued).toBeGreaterThanOrEqual(before - 50);
    expect(issued).toBeLessThanOrEqual(after + 50);
    expect(Date.parse(hb.ack.lease_expires_at) - issued).toBe(TTL);
    expect(verifyAck(w.ackKey, hb.ack, hb.sig)).toBe(true);
    // A second registration gets a new id and a new key: an old key never signs a new lease.
    const w2 = new ScriptedWorker(s.url, w.token, 'w1');
    await w2.register();
    expect(w2.id).not.toBe(w.id);
    expect(w2.ackKey).not.toBe(w.ackKey);
    const hb2 = await w2.heartbeat([]);
    expect(verifyAck(w.ackKey, hb2.ack, hb2.sig)).toBe(false);
    // Unknown worker.
    const r = await call(s.url, 'POST', '/api/v1/workers/nope/heartbeat', {
      token: w.token,
      body: { seq: 1, tasks: [] },
    });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('WORKER_UNKNOWN');
    // A deregistered worker is gone: its heartbeats and polls say so, and it must register again.
    const d = await call(s.url, 'POST', `/api/v1/workers/${w.id}/deregister`, { token: w.token });
    expect(d.status).toBe(200);
    expect(((await w.heartbeatRaw([])).body as Json).error.code).toBe('WORKER_UNKNOWN');
    expect(((await w.poll(0)).body as Json).error.code).toBe('WORKER_UNKNOWN');
    const list = await call(s.url, 'GET', '/api/v1/workers', { token: s.adminToken });
    expect(list.body.workers.find((x: Json) => x.id === w.id).status).toBe('gone');
  });

  it('assigns to the least-loaded healthy worker (ties: idle longest) within capacity', async () => {
    const s = await server();
    const a = await worker(s, 'a', 2);
    await sleep(20);
    const b = await worker(s, 'b', 1);
    a.keepAlive();
    b.keepAlive();
    const t1 = await submit(s);
    await assignedTo(s, t1, a.id); // both idle: a has been idle longer
    const t2 = await submit(s);
    await assignedTo(s, t2, b.id); // a has 1, b has 0
    const t3 = await submit(s);
    await assignedTo(s, t3, a.id); // b is full (capacity 1), a has room for 2
    const t4 = await submit(s);
    await sleep(300);
    expect((await task(s, t4)).status).toBe('queued'); // nobody has room
    const list = await call(s.url, 'GET', '/api/v1/workers', { token: s.adminToken });
    const byName = Object.fromEntries(list.body.workers.map((x: Json) => [x.name, x]));
    expect(byName.a.tasks.sort()).toEqual([t1, t3].sort());
    expect(byName.b.tasks).toEqual([t2]);
    expect(byName.a.status).toBe('healthy');
    // b finishes its task: t4 goes to b, the worker with room.
    const t2row = await task(s, t2);
    const done = await call(s.url, 'POST', `/api/v1/tasks/${t2}/complete`, {
      token: b.token,
      fence: `${t2}:${t2row.token}`,
      body: { status: 'succeeded', result: { ok: 1 } },
    });
    expect(done.status).toBe(200);
    await assignedTo(s, t4, b.id);
    // The long poll answers when the set changes.
    const polled = await b.poll(2_000);
    expect(polled.status).toBe(200);
    expect(polled.body.assignments.map((x: Json) => x.task_id)).toEqual([t4]);
  });

  it('long poll returns as soon as an assignment arrives', async () => {
    const s = await server();
    const w = await worker(s, 'w');
    w.keepAlive();
    const started = Date.now();
    const pending = w.poll(20_000);
    await sleep(150);
    const id = await submit(s);
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body.assignments).toEqual([
      expect.objectContaining({
        task_id: id,
        token: 1,
        kind: 'apply',
        control: 'run',
        spec: expect.objectContaining({ target: 'beta' }),
      }),
    ]);
    expect(Date.now() - started).toBeLessThan(15_000); // well before wait_ms
  });

  it('a poll answers at once when the assignment set differs from what the worker last heard (`known`)', async () => {
    const s = await server();
    const token = await s.mintToken('worker', 'w');
    const w = new ScriptedWorker(s.url, token, 'w', 1);
    await w.register();
    workers.push(w);
    w.keepAlive();
    const id = await submit(s);
    await assignedTo(s, id, w.id);
    const poll = async (known: string | null, waitMs: number) => {
      const started = Date.now();
      const q = known === null ? '' : `&known=${encodeURIComponent(known)}`;
      const r = await call<PollResponse>(s.url, 'GET', `/api/v1/workers/${w.id}/poll?wait_ms=${waitMs}${q}`, {
        token,
      });
      expect(r.status).toBe(200);
      return { ids: r.body.assignments.map((a) => a.task_id), took: Date.now() - started };
    };
    // The worker heard nothing yet (its last answer was empty, the assignment came between two polls):
    // the task comes at once, not with the next heartbeat or after wait_ms.
    const fresh = await poll('', 20_000);
    expect(fresh.ids).toEqual([id]);
    expect(fresh.took).toBeLessThan(10_000);
    // It already knows this set: the poll waits for a change (none comes: wait_ms passes).
    const same = await poll(assignmentsPrint([{ task_id: id, token: 1, control: 'run' }]), 1_500);
    expect(same.ids).toEqual([id]);
    expect(same.took).toBeGreaterThanOrEqual(1_400);
    // Without `known`, as before: a change from what is assigned now.
    const plain = await poll(null, 1_500);
    expect(plain.took).toBeGreaterThanOrEqual(1_400);
  });

  it('expires a silent worker, then reassigns its task after the grace with token + 1', async () => {
    // A long grace, so the checks made inside it hold even on a loaded machine.
    const s = await server({ timing: { ...FAST_TIMING, leaseGraceMs: LONG_GRACE } });
    const a = await worker(s, 'a');
    await sleep(20);
    const id = await submit(s);
    const first = await assignedTo(s, id, a.id);
    expect(first.token).toBe(1);
    const hb = await a.heartbeat([id]); // a starts it
    expect(hb.ack.tasks).toEqual([{ task_id: id, token: 1 }]);
    const lastBeat = Date.now();
    const b = await worker(s, 'b');
    b.keepAlive();
    // a falls silent. After lease_ttl it is unhealthy but keeps the task through the grace.
    await waitFor('a unhealthy', async () => {
      const list = await call(s.url, 'GET', '/api/v1/workers', { token: s.adminToken });
      return list.body.workers.find((x: Json) => x.id === a.id)?.status === 'unhealthy';
    });
    expect(Date.now() - lastBeat).toBeGreaterThanOrEqual(TTL - 50);
    expect((await task(s, id)).worker).toBe(a.id);
    // Fenced calls of a's task are refused once its lease is gone, even before reassignment.
    const early = await call(s.url, 'POST', `/api/v1/tasks/${id}/events`, {
      token: a.token,
      fence: `${id}:1`,
      body: { events: ['late'] },
    });
    expect(early.status).toBe(403);
    expect(early.body.error.code).toBe('LEASE_EXPIRED');
    const moved = await assignedTo(s, id, b.id);
    expect(Date.now() - lastBeat).toBeGreaterThanOrEqual(TTL + LONG_GRACE - 50);
    expect(moved.token).toBe(2);
    expect(moved.attempts).toBe(2);
    // a comes back: healthy again, but its ack no longer lists the task (no silent revival).
    const back = await a.heartbeat([id]);
    expect(back.ack.tasks).toEqual([]);
    expect(back.assignments).toEqual([]);
    // The old token is stale everywhere; the new one works.
    const stale = await call(s.url, 'POST', `/api/v1/tasks/${id}/state/commit?flock=hello&target=beta`, {
      token: a.token,
      fence: `${id}:1`,
      body: { change: { kind: 'remove', address: 'x', action: 'delete' } },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('STALE_FENCE');
    const staleDone = await call(s.url, 'POST', `/api/v1/tasks/${id}/complete`, {
      token: a.token,
      fence: `${id}:1`,
      body: { status: 'succeeded' },
    });
    expect(staleDone.status).toBe(409);
    expect(staleDone.body.error.code).toBe('STALE_FENCE');
    const fresh = await call(s.url, 'GET', `/api/v1/tasks/${id}/spec`, { token: b.token, fence: `${id}:2` });
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ task_id: id, token: 2, flock: 'hello', kind: 'apply' });
    expect((await task(s, id)).status).toBe('running');
  });

  it('a heartbeat within the grace keeps the worker its tasks (nobody else has them)', async () => {
    const s = await server({ timing: { ...FAST_TIMING, leaseGraceMs: LONG_GRACE } });
    const a = await worker(s, 'a');
    const id = await submit(s);
    await assignedTo(s, id, a.id);
    await a.heartbeat([id]);
    await waitFor('a unhealthy', async () => {
      const list = await call(s.url, 'GET', '/api/v1/workers', { token: s.adminToken });
      return list.body.workers.find((x: Json) => x.id === a.id)?.status === 'unhealthy';
    });
    const hb = await a.heartbeat([id]);
    expect(hb.ack.tasks).toEqual([{ task_id: id, token: 1 }]);
    a.keepAlive();
    await sleep(TTL + LONG_GRACE + 200);
    const t = await task(s, id);
    expect(t.worker).toBe(a.id);
    expect(t.token).toBe(1);
  });

  it('accepts completion exactly once', async () => {
    const s = await server();
    const w = await worker(s, 'w');
    w.keepAlive();
    const id = await submit(s);
    await assignedTo(s, id, w.id);
    const fence = `${id}:1`;
    const ev = await call(s.url, 'POST', `/api/v1/tasks/${id}/events`, {
      token: w.token,
      fence,
      body: { token: 1, events: [{ msg: 'hello' }, 'two'] },
    });
    expect(ev.status).toBe(200);
    const ok = await call(s.url, 'POST', `/api/v1/tasks/${id}/complete`, {
      token: w.token,
      fence,
      body: { status: 'failed', error: { code: 'APPLY_FAILED', message: 'boom' } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe('failed');
    const again = await call(s.url, 'POST', `/api/v1/tasks/${id}/complete`, {
      token: w.token,
      fence,
      body: { status: 'succeeded' },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('STALE_FENCE');
    const t = await task(s, id);
    expect(t).toMatchObject({ status: 'failed', error: { code: 'APPLY_FAILED', message: 'boom' } });
    expect(t.ended_at).toEqual(expect.any(String));
    const logs = await call(s.url, 'GET', `/api/v1/tasks/${id}/logs?after=0`, { token: s.adminToken });
    expect(logs.body.lines).toEqual([{ msg: 'hello' }, 'two']);
    const more = await call(s.url, 'GET', `/api/v1/tasks/${id}/logs?after=${logs.body.next}`, {
      token: s.adminToken,
    });
    expect(more.body.lines).toEqual([]);
    // Concurrent completions of one task: exactly one wins.
    const id2 = await submit(s);
    await assignedTo(s, id2, w.id);
    const tries = await Promise.all(
      Array.from({ length: 6 }, () =>
        call(s.url, 'POST', `/api/v1/tasks/${id2}/complete`, {
          token: w.token,
          fence: `${id2}:1`,
          body: { status: 'succeeded' },
        }),
      ),
    );
    expect(tries.filter((r) => r.status === 200)).toHaveLength(1);
    expect(tries.filter((r) => r.status === 409)).toHaveLength(5);
  });

  it('refuses fences that are missing, malformed, of another task, or of another worker', async () => {
    const s = await server();
    const a = await worker(s, 'a');
    a.keepAlive();
    const id = await submit(s);
    await assignedTo(s, id, a.id);
    const other = await s.mintToken('worker', 'intruder');
    const cases: [string | undefined, string, number, string][] = [
      [undefined, a.token, 409, 'STALE_FENCE'],
      ['garbage', a.token, 409, 'STALE_FENCE'],
      [`${id}:2`, a.token, 409, 'STALE_FENCE'],
      [`someone-else:1`, a.token, 409, 'STALE_FENCE'],
      [`${id}:1`, other, 409, 'STALE_FENCE'],
    ];
    for (const [fence, token, status, code] of cases) {
      const r = await call(s.url, 'GET', `/api/v1/tasks/${id}/state?flock=hello&target=beta`, {
        token,
        ...(fence ? { fence } : {}),
      });
      expect([fence, r.status, r.body.error?.code]).toEqual([fence, status, code]);
    }
    const wrongState = await call(s.url, 'GET', `/api/v1/tasks/${id}/state?flock=hello&target=prod`, {
      token: a.token,
      fence: `${id}:1`,
    });
    expect(wrongState.status).toBe(403);
    const right = await call(s.url, 'GET', `/api/v1/tasks/${id}/state?flock=hello&target=beta`, {
      token: a.token,
      fence: `${id}:1`,
    });
    expect(right.status).toBe(200);
    expect(right.body).toMatchObject({
      flock: 'hello',
      target: 'beta',
      serial: 0,
      resources: [],
      intents: [],
    });
  });

  it('controls tasks: cancel a queued one at once, pause/resume, kill a running one', async () => {
    const s = await server();
    const queued = await submit(s); // no worker yet
    const c = await call(s.url, 'POST', `/api/v1/tasks/${queued}/cancel`, { token: s.adminToken });
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('cancelled');
    const again = await call(s.url, 'POST', `/api/v1/tasks/${queued}/cancel`, { token: s.adminToken });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('TASK_ENDED');

    const w = await worker(s, 'w');
    w.keepAlive();
    const id = await submit(s);
    await assignedTo(s, id, w.id);
    await w.heartbeat([id]);
    expect((await task(s, id)).status).toBe('running');
    const p = await call(s.url, 'POST', `/api/v1/tasks/${id}/pause`, { token: s.adminToken });
    expect(p.body.control).toBe('pause');
    const hb = await w.heartbeat([id]);
    expect(hb.assignments[0]?.control).toBe('pause');
    await call(s.url, 'POST', `/api/v1/tasks/${id}/resume`, { token: s.adminToken });
    expect((await w.heartbeat([id])).assignments[0]?.control).toBe('run');
    const k = await call(s.url, 'POST', `/api/v1/tasks/${id}/kill`, { token: s.adminToken });
    expect(k.body).toMatchObject({ status: 'running', control: 'kill' });
    // The worker stops it and no longer names it: the task ends, cancelled.
    w.stopHeartbeats();
    const gone = await w.heartbeat([]);
    expect(gone.ack.tasks).toEqual([]);
    expect(await task(s, id)).toMatchObject({ status: 'cancelled' });
    const audit = await s.db.query<{ action: string }>(
      `SELECT action FROM drover_audit WHERE object = $1 ORDER BY id`,
      [id],
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      'task.submit',
      'task.pause',
      'task.resume',
      'task.kill',
      'task.cancelled',
    ]);
  });

  it('a poll does not miss an assignment announced while its read was on the way', async () => {
    // The poll's read runs, then its answer is held back while a task is assigned and announced: no
    // waiter is registered at that moment. With sweeps 10 s apart, a lost announcement would leave the
    // poll waiting its whole wait_ms and answering "nothing".
    let hold: Promise<void> | undefined;
    let readDone!: () => void;
    const readRan = new Promise<void>((r) => (readDone = r));
    const db: Db = {
      kind: tdb.db.kind,
      transaction: (fn) => tdb.db.transaction(fn),
      lock: (name) => tdb.db.lock(name),
      close: async () => {},
      query: async <R>(sql: string, params?: readonly unknown[]) => {
        const answer = await tdb.db.query<R>(sql, params);
        if (hold && sql.includes('SELECT w.token_id, w.status')) {
          const h = hold;
          hold = undefined;
          readDone();
          await h;
        }
        return answer;
      },
    };
    const s = new Scheduler({ db, timing: resolveTiming({ ...STEADY_TIMING, sweepMs: 10_000 }, {}) });
    const caller = { tokenId: 'admin-token', name: 'admin', role: 'admin' as const };
    const reg = await s.register({ name: 'w', host: 'h', pid: 1, proxy_pid: 2 }, caller);
    let release!: () => void;
    hold = new Promise<void>((r) => (release = r));
    const started = Date.now();
    const polled = s.poll(reg.worker_id, 3_000, caller, undefined, assignmentsPrint([]));
    await readRan;
    const task = await s.submit(taskSpec(), caller);
    await s.assignNow();
    release();
    const answer = await polled;
    expect(answer.assignments.map((a) => a.task_id)).toEqual([task.id]);
    expect(Date.now() - started).toBeLessThan(2_000);
    await s.stop();
  });

  it('submissions that arrive together are each queued once, with their audit row', async () => {
    const s = await server();
    const ids = await Promise.all(Array.from({ length: 12 }, () => submit(s)));
    expect(new Set(ids).size).toBe(12);
    const rows = await s.db.query<{ id: string; status: string; n: number }>(
      `SELECT t.id, t.status, (SELECT count(*)::int FROM drover_audit a
                                 WHERE a.object = t.id AND a.action = 'task.submit') AS n
         FROM drover_tasks t WHERE t.id = ANY($1::text[]) ORDER BY t.created_at, t.id`,
      [ids],
    );
    expect(rows.rows).toHaveLength(12);
    for (const r of rows.rows) expect(r).toMatchObject({ status: 'queued', n: 1 });
    // A worker that registers afterwards gets the first in queue order first.
    const w = await worker(s, 'w');
    w.keepAlive();
    const first = rows.rows[0]!.id;
    await assignedTo(s, first, w.id);
  });

  it('a restarted scheduler treats every lease as freshly renewed', async () => {
    const s1 = await server({ timing: { ...FAST_TIMING, leaseGraceMs: LONG_GRACE } });
    const w = await worker(s1, 'w');
    const id = await submit(s1);
    await assignedTo(s1, id, w.id);
    await w.heartbeat([id]);
    await s1.stop();
    servers = servers.filter((x) => x !== s1);
    // The scheduler is down for longer than lease_ttl + lease_grace.
    await sleep(TTL + LONG_GRACE + 300);
    const restartedAt = Date.now();
    const s2 = await server({ timing: { ...FAST_TIMING, leaseGraceMs: LONG_GRACE } });
    const list = await call(s2.url, 'GET', '/api/v1/workers', { token: s2.adminToken });
    const me = list.body.workers.find((x: Json) => x.id === w.id);
    expect(me.status).toBe('healthy');
    expect(Date.parse(me.lease_expires_at)).toBeGreaterThanOrEqual(restartedAt + TTL - 200);
    await sleep(TTL / 2);
    expect(await task(s2, id)).toMatchObject({ worker: w.id, token: 1 });
    // The worker's heartbeats keep it going through the new scheduler.
    const w2 = Object.assign(new ScriptedWorker(s2.url, w.token, 'w'), {
      id: w.id,
      ackKey: w.ackKey,
      seq: w.seq,
    });
    workers.push(w2);
    const hb = await w2.heartbeat([id]);
    expect(hb.ack.tasks).toEqual([{ task_id: id, token: 1 }]);
  });

  it('two schedulers on one database share the work without assigning a task twice', async () => {
    // On PGlite both run in this process over one connection; with DATABASE_URL see the next test.
    const s1 = await server();
    const s2 = await server();
    const ws: ScriptedWorker[] = [];
    for (let i = 0; i < 4; i++) ws.push(await worker(i % 2 ? s2 : s1, `w${i}`, 2));
    for (const w of ws) w.keepAlive();
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => submit(i % 2 ? s2 : s1)));
    await waitFor('8 tasks assigned', async () => {
      const r = await s1.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM drover_tasks WHERE status IN ('assigned','running')`,
      );
      return r.rows[0]!.n === 8;
    });
    await sleep(300);
    const rows = (
      await s1.db.query<{ id: string; worker_id: string | null; token: number; attempts: number }>(
        `SELECT id, worker_id, token::int AS token, attempts FROM drover_tasks`,
      )
    ).rows;
    expect(rows).toHaveLength(ids.length);
    for (const r of rows.filter((x) => x.worker_id)) expect([r.token, r.attempts]).toEqual([1, 1]);
    const load = new Map<string, number>();
    for (const r of rows) if (r.worker_id) load.set(r.worker_id, (load.get(r.worker_id) ?? 0) + 1);
    expect([...load.values()]).toEqual([2, 2, 2, 2]);
  });

  it.skipIf(!process.env['DATABASE_URL'])(
    'several server processes on one PostgreSQL never assign one task twice (PostgreSQL only: PGlite is one process)',
    async () => {
      // Separate pools = separate connections: real concurrency in the database.
      const dbs = [
        await openStore({ databaseUrl: tdb.url! }),
        await openStore({ databaseUrl: tdb.url! }),
        await openStore({ databaseUrl: tdb.url! }),
      ];
      try {
        const ss: TestServer[] = [];
        for (const db of dbs) {
          const s = await startTestServer(db);
          servers.push(s);
          ss.push(s);
        }
        const ws: ScriptedWorker[] = [];
        for (let i = 0; i < 6; i++) ws.push(await worker(ss[i % 3]!, `w${i}`, 3));
        for (const w of ws) w.keepAlive(50);
        // Burst submissions to all three at once, while every process sweeps and assigns.
        await Promise.all(Array.from({ length: 60 }, (_, i) => submit(ss[i % 3]!)));
        await waitFor('18 tasks assigned', async () => {
          const r = await dbs[0]!.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM drover_tasks WHERE status IN ('assigned','running')`,
          );
          return r.rows[0]!.n === 18;
        });
        // Complete them as fast as possible from all sides, so the rest flows through all schedulers.
        for (let round = 0; round < 10; round++) {
          const { rows } = await dbs[0]!.query<{ id: string; token: number; worker_id: string }>(
            `SELECT id, token::int AS token, worker_id FROM drover_tasks WHERE status IN ('assigned','running')`,
          );
          await Promise.all(
            rows.map((r) => {
              const w = ws.find((x) => x.id === r.worker_id)!;
              return call(ss[round % 3]!.url, 'POST', `/api/v1/tasks/${r.id}/complete`, {
                token: w.token,
                fence: `${r.id}:${r.token}`,
                body: { status: 'succeeded' },
              });
            }),
          );
          const over = await dbs[0]!.query(
            `SELECT worker_id FROM drover_tasks WHERE status IN ('assigned','running') GROUP BY worker_id HAVING count(*) > 3`,
          );
          expect(over.rows).toEqual([]);
        }
        await waitFor(
          'all done',
          async () => {
            const r = await dbs[0]!.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM drover_tasks WHERE status = 'succeeded'`,
            );
            if (r.rows[0]!.n < 60) {
              const { rows } = await dbs[0]!.query<{ id: string; token: number; worker_id: string }>(
                `SELECT id, token::int AS token, worker_id FROM drover_tasks WHERE status IN ('assigned','running')`,
              );
              await Promise.all(
                rows.map((x) =>
                  call(ss[0]!.url, 'POST', `/api/v1/tasks/${x.id}/complete`, {
                    token: ws.find((w) => w.id === x.worker_id)!.token,
                    fence: `${x.id}:${x.token}`,
                    body: { status: 'succeeded' },
                  }),
                ),
              );
            }
            return r.rows[0]!.n === 60;
          },
          30_000,
        );
        const { rows } = await dbs[0]!.query<{ token: number; attempts: number }>(
          `SELECT token::int AS token, attempts FROM drover_tasks`,
        );
        for (const r of rows) expect([r.token, r.attempts]).toEqual([1, 1]);
        const completions = await dbs[0]!.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM drover_audit WHERE action = 'task.complete'`,
        );
        expect(completions.rows[0]!.n).toBe(60);
      } finally {
        for (const w of workers) w.stopHeartbeats();
        for (const s of servers) await s.stop();
        servers = [];
        for (const db of dbs) await db.close();
      }
    },
  );
});
