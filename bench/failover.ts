/**
 * failover: how long a task is without a worker when the worker holding it dies (SPEC.md §5).
 *
 * Each run: a fresh server (default lease timing unless DROVER_* variables say otherwise), a simulator,
 * worker A running an apply of a chain of buckets (one signed, mutating simulator call after another,
 * about every BENCH_SIM_LATENCY_MS + a state write), and an idle worker B. Worker A's whole process group
 * (worker + signing proxy) is SIGKILLed; the figure is the time from the kill to the answer (`at`) of the
 * task's first successful (2xx) call with a HIGHER token in the simulator's journal — that is, made by B.
 * Also shown: when the server handed the task to B (assigned_at) and when B took it up (started_at: its
 * heartbeat named the task or its task process fetched the spec).
 *
 * The workers, their proxies and task processes run from the compiled build (bench/lib/build-issue3.ts),
 * as in production: under tsx, a task process alone took ~3 s to start on the loaded benchmark machine.
 *
 * Goal: median of BENCH_RUNS (5) runs ≤ lease_ttl + lease_grace + 2 s, from the timing in use.
 *
 *   npm run bench failover            BENCH_RUNS=1 npm run bench failover (quick check)
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureBuild } from './lib/build-issue3.ts';
import { report } from './lib/report.ts';
import { benchKeys } from './lib/setup.ts';
import { startSimProcess, type SimProcess } from './lib/sim-process.ts';
import { api, killAll, median, startWorkerProcess, waitFor, type Group } from './lib/procs-issue3.ts';
import {
  getTaskView,
  startBenchServer,
  TERMINAL,
  waitForWorkers,
  type BenchServer,
} from './lib/server-issue3.ts';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const CHAIN = Number(process.env['BENCH_CHAIN'] ?? 150);
const SIM_LATENCY_MS = Number(process.env['BENCH_SIM_LATENCY_MS'] ?? 50);
const VERBOSE = process.env['BENCH_VERBOSE'] === '1';

interface JournalEntry {
  readonly seq: number;
  readonly started: string;
  readonly at: string;
  readonly task: string | null;
  readonly token: number | string | null;
  readonly worker: string | null;
  readonly status: number;
}

interface RunResult {
  readonly recoveryMs: number;
  readonly reassignedMs: number | null;
  readonly startedMs: number | null;
  readonly firstCallStartedMs: number;
  readonly lastCallBeforeKillMs: number;
}

/** A chain of buckets: each depends on the one before, so the apply makes one create after another. */
function chainFlock(n: number, prefix: string): string {
  const lines = [
    'flock: failover',
    'targets:',
    '  - name: beta',
    '    region: sim-1',
    'providers:',
    '  sim: { endpoint: "${env.DROVER_SIM_URL}" }',
    'resources:',
  ];
  for (let i = 0; i < n; i++) {
    lines.push(`  b${i}:`, '    type: sim.bucket', `    properties: { name: "${prefix}-b${i}" }`);
    if (i > 0) lines.push(`    depends_on: [b${i - 1}]`);
  }
  return `${lines.join('\n')}\n`;
}

async function journal(sim: SimProcess, taskId: string): Promise<JournalEntry[]> {
  const r = await api<JournalEntry[]>(sim.url, 'GET', `/_journal?task=${encodeURIComponent(taskId)}`);
  if (r.status !== 200 || !Array.isArray(r.body)) throw new Error(`journal answered ${r.status}`);
  return r.body;
}

const ok = (e: JournalEntry): boolean => e.status >= 200 && e.status < 300;

async function oneRun(
  run: number,
  sim: SimProcess,
): Promise<{ result: RunResult; boundMs: number; timing: string }> {
  const bs: BenchServer = await startBenchServer();
  const { server } = bs;
  const workers: Group[] = [];
  try {
    const t = server.timing;
    const boundMs = t.leaseTtlMs + t.leaseGraceMs + 2_000;
    const timing = `heartbeat=${t.heartbeatMs}ms lease_ttl=${t.leaseTtlMs}ms lease_grace=${t.leaseGraceMs}ms`;
    const tag = `r${run}-${randomBytes(3).toString('hex')}`;
    const names = { a: `fo-a-${tag}`, b: `fo-b-${tag}` };
    const common = {
      serverUrl: server.url,
      simUrl: sim.url,
      simKeys: benchKeys,
      stderr: VERBOSE ? ('inherit' as const) : ('ignore' as const),
    };
    const a = startWorkerProcess({
      ...common,
      name: names.a,
      token: await server.mintToken('worker', names.a),
    });
    workers.push(a);
    const ids = await waitForWorkers(server, [names.a], 60_000);

    const sub = await api<{ task_id: string }>(server.url, 'POST', '/api/v1/tasks', {
      token: server.adminToken,
      body: {
        kind: 'apply',
        flock: { files: { 'flock.yaml': chainFlock(CHAIN, `fo-${tag}`) } },
        target: 'beta',
        artifacts: {},
      },
    });
    if (sub.status !== 201) throw new Error(`submit answered ${sub.status}: ${JSON.stringify(sub.body)}`);
    const taskId = sub.body.task_id;

    // Worker A is mid-task: a few calls made, and calls keep coming.
    await waitFor(
      'worker A to make its first calls',
      async () => (await journal(sim, taskId)).filter(ok).length >= 3,
      120_000,
      100,
    );
    const before = await getTaskView(server, taskId);
    if (before.worker !== ids.get(names.a)) throw new Error(`the task is on ${before.worker}, not worker A`);

    // The standby: registered, heartbeating and long-polling before A dies.
    const b = startWorkerProcess({
      ...common,
      name: names.b,
      token: await server.mintToken('worker', names.b),
    });
    workers.push(b);
    await waitForWorkers(server, [names.b], 60_000);
    await sleep(500);
    const stillRunning = await getTaskView(server, taskId);
    if (TERMINAL.has(stillRunning.status))
      throw new Error(`the task ended before the kill (${stillRunning.status}); raise BENCH_CHAIN`);

    const killedAt = Date.now();
    a.signal('SIGKILL'); // worker + its signing proxy (one process group); its task dies with its lifeline
    const lastBefore = (await journal(sim, taskId)).filter((e) => Number(e.token) === before.token);
    const lastAt = lastBefore.length ? Date.parse(lastBefore[lastBefore.length - 1]!.at) : killedAt;

    const first = await waitFor(
      'the task to call again from worker B',
      async () => (await journal(sim, taskId)).find((e) => ok(e) && Number(e.token) > before.token),
      boundMs * 4,
      50,
    );
    const after = await getTaskView(server, taskId);
    const rel = (iso: string | null): number | null => (iso ? Date.parse(iso) - killedAt : null);
    const result: RunResult = {
      recoveryMs: Date.parse(first.at) - killedAt,
      firstCallStartedMs: Date.parse(first.started) - killedAt,
      reassignedMs: after.token === Number(first.token) ? rel(after.assigned_at) : null,
      startedMs: after.token === Number(first.token) ? rel(after.started_at) : null,
      lastCallBeforeKillMs: lastAt - killedAt,
    };
    if (first.worker !== names.b)
      throw new Error(`the higher-token call came from ${first.worker}, not worker B`);

    // Stop the task (B kills its process) so nothing outlives the run.
    await api(server.url, 'POST', `/api/v1/tasks/${taskId}/kill`, { token: server.adminToken });
    await waitFor(
      'the task to end after kill',
      async () => TERMINAL.has((await getTaskView(server, taskId)).status),
      30_000,
      200,
    ).catch(() =>
      console.log(`[failover] run ${run}: the task did not end within 30 s of kill (cleanup goes on)`),
    );
    return { result, boundMs, timing };
  } finally {
    for (const w of workers) await w.stop(3_000);
    await bs.stop();
  }
}

ensureBuild('failover');
const sim = await startSimProcess(['--latency', String(SIM_LATENCY_MS)], benchKeys);
let exitCode = 0;
try {
  const results: RunResult[] = [];
  let boundMs = NaN;
  let timing = '';
  for (let run = 1; run <= RUNS; run++) {
    const r = await oneRun(run, sim);
    boundMs = r.boundMs;
    timing = r.timing;
    results.push(r.result);
    const s = (ms: number | null): string => (ms === null ? '?' : `${(ms / 1000).toFixed(2)} s`);
    console.log(
      `[failover] run ${run}/${RUNS}: recovered in ${s(r.result.recoveryMs)}` +
        ` (server reassigned at ${s(r.result.reassignedMs)}, worker B took it up at ${s(r.result.startedMs)},` +
        ` first call arrived at ${s(r.result.firstCallStartedMs)}; A's last call answered at ${s(r.result.lastCallBeforeKillMs)})`,
    );
  }
  const med = median(results.map((r) => r.recoveryMs));
  report({
    bench: 'failover',
    figures: {
      timing,
      runs: results.length,
      runs_s: results.map((r) => (r.recoveryMs / 1000).toFixed(2)).join(','),
      median_s: med / 1000,
      max_s: Math.max(...results.map((r) => r.recoveryMs)) / 1000,
      bound_s: boundMs / 1000,
    },
    goal: `median time from SIGKILL of the worker to the task's next successful call from another worker ≤ lease_ttl + lease_grace + 2 s = ${(boundMs / 1000).toFixed(1)} s`,
    met: med <= boundMs,
  });
} catch (e) {
  console.error(`[failover] could not run: ${(e as Error).stack ?? String(e)}`);
  exitCode = 1;
} finally {
  await killAll();
  await sim.stop();
}
process.exit(exitCode);
