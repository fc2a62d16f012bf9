/**
 * Property (fast-check) of the scheduler side of the lease state machine, on a real server and the test
 * database: whatever the pattern of live and silent periods of three workers and whenever tasks arrive,
 *   1. each token of a task is acknowledged to exactly one worker, and a task's acknowledged tokens never
 *      go down (a silent worker coming back is never handed back a task that moved on);
 *   2. a task moves to another worker only after the quarantine: the new worker's first acknowledgement
 *      of it comes ≥ lease_ttl + lease_grace after the old worker's last one (database clock);
 *   3. no acknowledgement lists more tasks than the worker's capacity;
 *   4. every task ends exactly once: one completion per task is accepted, stale ones are refused.
 * Real time with short leases, so few runs; the example-based tests cover the single transitions.
 */
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from '../../test/helpers/db.ts';
import {
  call,
  ScriptedWorker,
  startTestServer,
  taskSpec,
  waitFor,
  type TestServer,
} from '../server/test-harness.ts';
import type { Timing } from './timing.ts';

const T: Partial<Timing> = {
  heartbeatMs: 40,
  leaseTtlMs: 300,
  leaseGraceMs: 200,
  marginMs: 40,
  upstreamTimeoutMs: 100,
  sweepMs: 20,
  pollMaxMs: 1_000,
  goneAfterMs: 60_000,
};

interface Seen {
  worker: string;
  token: number;
  at: number;
}

let tdb: TestDb;
let s: TestServer;

beforeAll(async () => {
  tdb = await openTestDb();
  s = await startTestServer(tdb.db, { timing: T, maxAttempts: 1_000 });
});

afterAll(async () => {
  await s?.stop();
  await tdb?.cleanup();
});

/** One worker's script: alternating live / silent periods (ms). */
const script = fc.array(fc.record({ live: fc.boolean(), ms: fc.integer({ min: 50, max: 700 }) }), {
  minLength: 1,
  maxLength: 4,
});

describe('lease state machine (scheduler side)', () => {
  it('never hands one task to two workers, respects the quarantine and capacity, ends each task once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(script, script, script),
        fc.array(fc.integer({ min: 0, max: 800 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 2 }),
        async (scripts, submitAt, capacity) => {
          const seen = new Map<string, Seen[]>(); // task → acks in order
          const violations: string[] = [];
          const ws: ScriptedWorker[] = [];
          for (let i = 0; i < 3; i++) {
            const w = new ScriptedWorker(s.url, await s.mintToken('worker', `p${i}`), `p${i}`, capacity);
            await w.register();
            ws.push(w);
          }
          const ids: string[] = [];
          const record = (
            w: ScriptedWorker,
            ack: { issued_at: string; tasks: readonly { task_id: string; token: number }[] },
          ): void => {
            if (ack.tasks.length > capacity)
              violations.push(`${w.name} acked ${ack.tasks.length} tasks > capacity ${capacity}`);
            for (const t of ack.tasks) {
              const list = seen.get(t.task_id) ?? [];
              list.push({ worker: w.id, token: t.token, at: Date.parse(ack.issued_at) });
              seen.set(t.task_id, list);
            }
          };
          const completed = new Set<string>();
          const run = async (w: ScriptedWorker, segs: { live: boolean; ms: number }[]): Promise<void> => {
            for (const seg of segs) {
              const until = Date.now() + seg.ms;
              while (Date.now() < until) {
                if (seg.live) {
                  const named = w.lastAck?.assignments.map((a) => a.task_id) ?? [];
                  const r = await w.heartbeatRaw(named);
                  if (r.status === 200) {
                    w.lastAck = r.body;
                    record(w, r.body.ack);
                    // Sometimes finish a task it holds.
                    const a = r.body.ack.tasks[0];
                    if (a && Math.random() < 0.15) {
                      const c = await call(s.url, 'POST', `/api/v1/tasks/${a.task_id}/complete`, {
                        token: w.token,
                        fence: `${a.task_id}:${a.token}`,
                        body: { status: 'succeeded' },
                      });
                      if (c.status === 200) {
                        if (completed.has(a.task_id)) violations.push(`task ${a.task_id} completed twice`);
                        completed.add(a.task_id);
                      }
                    }
                  }
                }
                await sleep(T.heartbeatMs!);
              }
            }
          };
          const started = Date.now();
          const submitter = (async () => {
            for (const at of [...submitAt].sort((a, b) => a - b)) {
              await sleep(Math.max(0, at - (Date.now() - started)));
              const r = await call(s.url, 'POST', '/api/v1/tasks', { token: s.adminToken, body: taskSpec() });
              ids.push(r.body.task_id as string);
            }
          })();
          await Promise.all([submitter, ...ws.map((w, i) => run(w, scripts[i]!))]);
          // Drain: every worker live until every task has ended (a worker completes what it holds).
          await waitFor(
            'every task ended',
            async () => {
              for (const w of ws) {
                const r = await w.heartbeatRaw(w.lastAck?.assignments.map((a) => a.task_id) ?? []);
                if (r.status !== 200) continue;
                w.lastAck = r.body;
                record(w, r.body.ack);
                for (const a of r.body.ack.tasks) {
                  const c = await call(s.url, 'POST', `/api/v1/tasks/${a.task_id}/complete`, {
                    token: w.token,
                    fence: `${a.task_id}:${a.token}`,
                    body: { status: 'succeeded' },
                  });
                  if (c.status === 200) {
                    if (completed.has(a.task_id)) violations.push(`task ${a.task_id} completed twice`);
                    completed.add(a.task_id);
                  }
                  // A stale completion of the same assignment is refused.
                  const again = await call(s.url, 'POST', `/api/v1/tasks/${a.task_id}/complete`, {
                    token: w.token,
                    fence: `${a.task_id}:${a.token}`,
                    body: { status: 'failed' },
                  });
                  if (again.status !== 409)
                    violations.push(`second completion of ${a.task_id} answered ${again.status}`);
                }
              }
              const { rows } = await s.db.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM drover_tasks WHERE id = ANY($1::text[]) AND status NOT IN ('succeeded', 'failed', 'cancelled')`,
                [ids],
              );
              return rows[0]!.n === 0;
            },
            20_000,
          );
          // Retire this run's workers so the next run starts clean.
          await s.db.query(`UPDATE drover_workers SET status = 'gone' WHERE id = ANY($1::text[])`, [
            ws.map((w) => w.id),
          ]);

          for (const id of ids) if (!completed.has(id)) violations.push(`task ${id} never completed`);
          for (const [task, acks] of seen) {
            const owner = new Map<number, string>();
            for (let i = 0; i < acks.length; i++) {
              const a = acks[i]!;
              const o = owner.get(a.token);
              if (o && o !== a.worker) violations.push(`task ${task} token ${a.token} acked to two workers`);
              owner.set(a.token, a.worker);
            }
            const sorted = [...acks].sort((x, y) => x.at - y.at);
            for (let i = 1; i < sorted.length; i++) {
              if (sorted[i]!.token < sorted[i - 1]!.token)
                violations.push(`task ${task}: token went down in acks`);
            }
            // Quarantine between owners.
            const byToken = [...owner.keys()].sort((a, b) => a - b);
            for (let i = 1; i < byToken.length; i++) {
              const prev = sorted.filter((a) => a.token === byToken[i - 1]);
              const next = sorted.filter((a) => a.token === byToken[i]);
              const lastPrev = prev[prev.length - 1]!.at;
              const firstNext = next[0]!.at;
              if (firstNext - lastPrev < T.leaseTtlMs! + T.leaseGraceMs! - 5) {
                violations.push(
                  `task ${task}: token ${byToken[i]} acked ${firstNext - lastPrev} ms after the last ack of token ${byToken[i - 1]}`,
                );
              }
            }
          }
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: 6, endOnFailure: true },
    );
  }, 240_000);
});
