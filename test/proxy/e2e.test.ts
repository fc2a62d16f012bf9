/**
 * End to end (SPEC.md §5 "The guarantee"): a real server, a real simulator, and two worker PROCESSES
 * (each with its proxy process and task processes). The worker running an apply is SIGKILLed mid-task;
 * the task must finish on the other worker with a higher token, and the simulator's journal must show
 * that no two workers mutated on behalf of the task at overlapping times.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { call, startTestServer, type TestServer } from '../../src/server/test-harness.ts';
import { openTestDb, type TestDb } from '../helpers/db.ts';
import { startTestSim, type TestSim } from '../helpers/sim.ts';
import { sleep, tempDir } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

interface JournalEntry {
  readonly started: string;
  readonly at: string;
  readonly task: string | null;
  readonly token: number | string | null;
  readonly worker: string | null;
  readonly operation: string;
  readonly status: number;
}

/** A flock of chained buckets: sequential creates, so the apply takes a while under sim latency. */
function chainFlock(n: number): string {
  const lines = [
    'flock: e2e',
    'targets:',
    '  - name: beta',
    '    region: sim-1',
    'providers:',
    '  sim: { endpoint: "${env.DROVER_SIM_URL}" }',
    'resources:',
  ];
  for (let i = 0; i < n; i++) {
    lines.push(`  b${i}:`, '    type: sim.bucket', `    properties: { name: "e2e-b${i}" }`);
    if (i > 0) lines.push(`    depends_on: [b${i - 1}]`);
  }
  return `${lines.join('\n')}\n`;
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function startWorkerProcess(server: TestServer, sim: TestSim, token: string, name: string): ChildProcess {
  const work = tempDir(`drover-e2e-${name}-`);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'src/worker/main.ts'),
      '--server',
      server.url,
      '--name',
      name,
      '--work-dir',
      work.dir,
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/',
        DROVER_TOKEN: token,
        DROVER_SIM_URL: sim.url,
        ...sim.keys,
      },
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      /* gone */
    }
    await exited;
    await sleep(300);
    work.remove();
  });
  return child;
}

describe('end to end: server + simulator + two worker processes', () => {
  it.each([
    ['SIGKILL', 'kill'],
    ['SIGSTOP … SIGCONT (worker and proxy frozen past the lease)', 'stop'],
  ] as const)(
    '%s of the worker mid-task: the task finishes on the other worker with a higher token, with no overlapping mutations',
    async (_label, fault) => {
      const tdb: TestDb = await openTestDb();
      cleanups.push(() => tdb.cleanup());
      const server = await startTestServer(tdb.db, {
        timing: {
          heartbeatMs: 300,
          leaseTtlMs: 2_500,
          leaseGraceMs: 1_500,
          marginMs: 500,
          upstreamTimeoutMs: 1_000,
          sweepMs: 100,
          pollMaxMs: 2_000,
          goneAfterMs: 60_000,
        },
      });
      cleanups.push(() => server.stop());
      const sim = await startTestSim({ latencyMs: 250 });
      cleanups.push(() => sim.close());

      const tokenA = await server.mintToken('worker', 'wa');
      const tokenB = await server.mintToken('worker', 'wb');
      const a = startWorkerProcess(server, sim, tokenA, 'wa');

      const submitted = await call(server.url, 'POST', '/api/v1/tasks', {
        token: server.adminToken,
        body: {
          kind: 'apply',
          flock: { files: { 'flock.yaml': chainFlock(12) } },
          target: 'beta',
          artifacts: {},
        },
      });
      expect(submitted.status).toBe(201);
      const taskId = (submitted.body as { task_id: string }).task_id;

      const journal = async (): Promise<JournalEntry[]> =>
        ((await (await fetch(`${sim.url}/_journal`)).json()) as JournalEntry[]).filter(
          (e) => e.task === taskId,
        );
      // Mid-task: a few buckets made by worker A.
      await until(
        'worker A mutating',
        async () => (await journal()).filter((e) => e.status < 300).length >= 3,
      );
      const first = (await call(server.url, 'GET', `/api/v1/tasks/${taskId}`, { token: server.adminToken }))
        .body as { token: number; status: string };
      expect(first.status).toBe('running');

      startWorkerProcess(server, sim, tokenB, 'wb');
      await sleep(500);
      if (fault === 'kill') {
        // The worker and its proxy (one process group); its task process dies with its lifeline.
        process.kill(-(a.pid as number), 'SIGKILL');
      } else {
        // Worker and proxy frozen; the task process (its own group) runs on, its calls stuck at the proxy.
        process.kill(-(a.pid as number), 'SIGSTOP');
        await until('the task to move to worker B', async () => {
          const t = (await call(server.url, 'GET', `/api/v1/tasks/${taskId}`, { token: server.adminToken }))
            .body as { token: number };
          return t.token > first.token;
        });
        await sleep(1_500);
        // Thawed while B works: A's proxy must refuse whatever A's task still tries, and A must stop it.
        process.kill(-(a.pid as number), 'SIGCONT');
      }

      const done = await until(
        'the task to finish on worker B',
        async () => {
          const t = (await call(server.url, 'GET', `/api/v1/tasks/${taskId}`, { token: server.adminToken }))
            .body as { status: string; token: number; error: unknown };
          return t.status === 'succeeded' || t.status === 'failed' ? t : null;
        },
        60_000,
      );
      expect(done.error).toBeNull();
      expect(done.status).toBe('succeeded');
      expect(done.token).toBeGreaterThan(first.token);

      const entries = await journal();
      const byToken = new Map<string, JournalEntry[]>();
      for (const e of entries) byToken.set(String(e.token), [...(byToken.get(String(e.token)) ?? []), e]);
      expect(byToken.size).toBeGreaterThanOrEqual(2);
      // Every pair of calls made under different tokens: one ended before the other began.
      const all = entries.map((e) => ({
        token: String(e.token),
        worker: e.worker,
        from: Date.parse(e.started),
        to: Date.parse(e.at),
      }));
      for (const x of all) {
        for (const y of all) {
          if (x.token === y.token) continue;
          expect(
            x.to <= y.from || y.to <= x.from,
            `overlap: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`,
          ).toBe(true);
        }
      }
      const workers = new Set(entries.map((e) => e.worker));
      expect(workers).toEqual(new Set(['wa', 'wb']));
      // All twelve buckets exist exactly once.
      const buckets = (await sim.resources()).filter(
        (r) => r.kind === 'bucket' && r.name.startsWith('e2e-b'),
      );
      expect(buckets.map((b) => b.name).sort()).toEqual(
        Array.from({ length: 12 }, (_, i) => `e2e-b${i}`).sort(),
      );
    },
  );
});
