/**
 * scheduler: throughput and dispatch latency of the scheduler with real worker processes (SPEC.md §5).
 *
 * A server on a fresh store (PGlite; PostgreSQL when DATABASE_URL is set), BENCH_WORKERS (8) `drover
 * worker` processes of capacity 1 (the compiled build, bench/lib/build-issue3.ts), and BENCH_TASKS
 * (1,000) `noop` tasks submitted as fast as the API takes them. A noop task runs no provisioner: the
 * worker takes it up under its lease (a heartbeat names it) and reports it succeeded through the fence,
 * with no task process. BENCH_KIND=plan submits a `plan` of a flock with no resources instead (a task
 * process, spec fetch, state read, events), for comparison.
 *
 * Figures come from the timestamps the server records on each task (created_at, assigned_at, started_at,
 * ended_at). The issue defines dispatch latency as queued → started. With 1,000 tasks submitted at once
 * to 8 slots, that is almost all queue wait (the last task waits for ~990 others to finish), which says
 * nothing about the scheduler; so the goal is judged from the moment a task was dispatchable — queued
 * AND a worker slot free (its worker's previous task ended) — to started_at (the worker took it up).
 * Also printed: dispatchable → assigned_at, and the literal created_at → started_at / → assigned_at.
 * Throughput: tasks / (last ended_at − first created_at).
 *
 * Goal: dispatch p99 (dispatchable → started) ≤ 100 ms, every task succeeded.
 *
 *   npm run bench scheduler           BENCH_TASKS=200 npm run bench scheduler (quick check)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureBuild } from './lib/build-issue3.ts';
import { percentile, report } from './lib/report.ts';
import { killAll, startWorkerProcess, waitFor, type Group } from './lib/procs-issue3.ts';
import { startBenchServer, waitForWorkers, type BenchServer } from './lib/server-issue3.ts';

const TASKS = Number(process.env['BENCH_TASKS'] ?? 1_000);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? 8);
const SUBMIT_CONCURRENCY = 8;
const WARMUP = WORKERS;
const TIMEOUT_MS = Number(process.env['BENCH_TIMEOUT_S'] ?? 3_600) * 1_000;
const VERBOSE = process.env['BENCH_VERBOSE'] === '1';
const KIND = process.env['BENCH_KIND'] === 'plan' ? 'plan' : 'noop';
const NOOP_FLOCK = { 'flock.yaml': 'flock: noop\ntargets:\n  - name: beta\n    region: sim-1\n' };

interface Row {
  id: string;
  status: string;
  worker_id: string | null;
  attempts: number;
  created_at: number;
  assigned_at: number | null;
  started_at: number | null;
  ended_at: number | null;
}

const ms = (col: string): string => `(extract(epoch from ${col}) * 1000)::double precision AS ${col}`;

async function readTasks(bs: BenchServer, ids: readonly string[]): Promise<Row[]> {
  const r = await bs.server.db.query<Row>(
    `SELECT id, status, worker_id, attempts, ${ms('created_at')}, ${ms('assigned_at')}, ${ms('started_at')}, ${ms('ended_at')}
       FROM drover_tasks WHERE id = ANY($1::text[])`,
    [ids],
  );
  return r.rows;
}

/**
 * Submits n tasks, SUBMIT_CONCURRENCY in flight, from a process of its own (lib/submit-child.mjs): the
 * load generator's HTTP client must not run on the event loop of the server it measures.
 */
async function submitAll(bs: BenchServer, n: number): Promise<string[]> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./lib/submit-child.mjs', import.meta.url))], {
    env: {
      ...process.env,
      BENCH_SUBMIT_URL: bs.server.url,
      BENCH_SUBMIT_TOKEN: bs.server.adminToken,
      BENCH_SUBMIT_N: String(n),
      BENCH_SUBMIT_CONCURRENCY: String(SUBMIT_CONCURRENCY),
      BENCH_SUBMIT_BODY: JSON.stringify({
        kind: KIND,
        flock: { files: NOOP_FLOCK },
        target: 'beta',
        artifacts: {},
      }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the submitting process exited with ${code}`);
  return (JSON.parse(out) as { ids: string[] }).ids;
}

async function waitAllEnded(
  bs: BenchServer,
  ids: readonly string[],
  timeoutMs: number,
  label: string,
): Promise<Row[]> {
  let lastLog = Date.now();
  return waitFor(
    `${label}: all ${ids.length} tasks to end`,
    async () => {
      // A count while waiting (the rows only once at the end): the benchmark's own reads share the
      // database with the scheduler it measures.
      const c = await bs.server.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM drover_tasks WHERE id = ANY($1::text[]) AND ended_at IS NOT NULL`,
        [ids],
      );
      const ended = c.rows[0]?.n ?? 0;
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        console.log(`[scheduler] ${label}: ${ended}/${ids.length} ended`);
      }
      return ended === ids.length ? readTasks(bs, ids) : null;
    },
    timeoutMs,
    500,
  );
}

/**
 * Per task: when it became dispatchable — max(created_at, the end of the previous task on the worker
 * that got it). Capacity 1, so a worker's tasks follow one another in assigned_at order.
 */
function dispatchable(rows: readonly Row[], registeredAt: ReadonlyMap<string, number>): Map<string, number> {
  const byWorker = new Map<string, Row[]>();
  for (const r of rows)
    if (r.worker_id && r.assigned_at !== null)
      byWorker.set(r.worker_id, [...(byWorker.get(r.worker_id) ?? []), r]);
  const out = new Map<string, number>();
  for (const [w, list] of byWorker) {
    list.sort((a, b) => a.assigned_at! - b.assigned_at!);
    let free = registeredAt.get(w) ?? 0;
    for (const r of list) {
      out.set(r.id, Math.max(r.created_at, free));
      free = r.ended_at ?? Infinity;
    }
  }
  return out;
}

const fmt = (xs: number[]): { p50: number; p99: number; max: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
};

let exitCode = 0;
let bs: BenchServer | undefined;
const workers: Group[] = [];
try {
  ensureBuild('scheduler');
  bs = await startBenchServer();
  const { server } = bs;
  const names = Array.from({ length: WORKERS }, (_, i) => `sched-w${i + 1}`);
  for (const name of names) {
    workers.push(
      startWorkerProcess({
        serverUrl: server.url,
        name,
        token: await server.mintToken('worker', name),
        stderr: VERBOSE ? 'inherit' : 'ignore',
      }),
    );
  }
  await waitForWorkers(server, names, 120_000);
  const reg = await server.db.query<{ id: string; registered_at: number }>(
    `SELECT id, ${ms('registered_at')} FROM drover_workers`,
  );
  const registeredAt = new Map(reg.rows.map((r) => [r.id, r.registered_at]));

  // Warm-up (not counted): one task per worker, so every worker has started a task process once.
  await waitAllEnded(bs, await submitAll(bs, WARMUP), 300_000, 'warm-up');

  console.log(`[scheduler] submitting ${TASKS} ${KIND} tasks to ${WORKERS} workers (store: ${bs.store})`);
  const t0 = Date.now();
  const ids = await submitAll(bs, TASKS);
  const submitMs = Date.now() - t0;
  const rows = await waitAllEnded(bs, ids, TIMEOUT_MS, 'run');

  const bad = rows.filter((r) => r.status !== 'succeeded');
  const first = Math.min(...rows.map((r) => r.created_at));
  const last = Math.max(...rows.map((r) => r.ended_at!));
  const ready = dispatchable(rows, registeredAt);
  const toAssigned: number[] = [];
  const toStarted: number[] = [];
  // The same, only for tasks that became dispatchable once every submission was in (no API load).
  const toStartedAfterSubmit: number[] = [];
  const queueToAssigned: number[] = [];
  const queueToStarted: number[] = [];
  const running: number[] = [];
  for (const r of rows) {
    const t = ready.get(r.id);
    if (t === undefined || r.assigned_at === null) continue;
    toAssigned.push(r.assigned_at - t);
    if (r.started_at !== null) toStarted.push(r.started_at - t);
    if (r.started_at !== null && t > t0 + submitMs) toStartedAfterSubmit.push(r.started_at - t);
    queueToAssigned.push(r.assigned_at - r.created_at);
    if (r.started_at !== null) queueToStarted.push(r.started_at - r.created_at);
    if (r.started_at !== null && r.ended_at !== null) running.push(r.ended_at - r.started_at);
  }
  const d = fmt(toAssigned);
  const s = fmt(toStarted);
  const sa = fmt(toStartedAfterSubmit);
  const q = fmt(queueToAssigned);
  const qs = fmt(queueToStarted);
  const run = fmt(running);
  report({
    bench: 'scheduler',
    figures: {
      store: bs.store,
      kind: KIND,
      tasks: TASKS,
      workers: WORKERS,
      not_succeeded: bad.length,
      submit_s: submitMs / 1000,
      wall_s: (last - first) / 1000,
      tasks_per_s: TASKS / ((last - first) / 1000),
      dispatch_to_started_p50_ms: s.p50,
      dispatch_to_started_p99_ms: s.p99,
      dispatch_to_started_max_ms: s.max,
      after_submit_dispatch_to_started_p50_ms: sa.p50,
      after_submit_dispatch_to_started_p99_ms: sa.p99,
      dispatch_to_assigned_p50_ms: d.p50,
      dispatch_to_assigned_p99_ms: d.p99,
      queued_to_started_p50_ms: qs.p50,
      queued_to_started_p99_ms: qs.p99,
      queued_to_assigned_p50_ms: q.p50,
      queued_to_assigned_p99_ms: q.p99,
      task_run_p50_ms: run.p50,
    },
    goal: 'dispatch latency (queued with a free worker slot → started by its worker) p99 ≤ 100 ms, every task succeeded',
    met: s.p99 <= 100 && bad.length === 0,
  });
  if (bad.length) console.log(`[scheduler] e.g. ${JSON.stringify(bad.slice(0, 3))}`);
} catch (e) {
  console.error(`[scheduler] could not run: ${(e as Error).stack ?? String(e)}`);
  exitCode = 1;
} finally {
  await Promise.all(workers.map((w) => w.stop(3_000)));
  await killAll();
  await bs?.stop();
}
process.exit(exitCode);
