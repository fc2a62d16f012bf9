/**
 * plan-noop: 10,000 resources already in sync (simulator latency 0). Measures the plan's wall time and peak
 * RSS (in a process of its own, running the compiled build as production does) and, in that same process,
 * a bare loop of the same 10,000 signed GETs at the same parallelism. Plan and loop alternate
 * BENCH_ROUNDS (5) times and their medians are compared (CPU time of each is printed beside, for
 * comparing changes on a shared machine); the first (cold) plan is printed too, and
 * peak RSS is taken right after it. Goal: plan ≤ 1.5 × bare loop, RSS ≤ 400 MB.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { loadFlock } from '../src/config/index.ts';
import { apply } from '../src/engine/index.ts';
import { ensureBuild } from './lib/build-issue3.ts';
import { layeredFlock } from './lib/flocks.ts';
import { report } from './lib/report.ts';
import { benchEngineParts, benchKeys, benchStore } from './lib/setup.ts';
import { startSimProcess } from './lib/sim-process.ts';

const N = Number(process.env.BENCH_N ?? 10_000);
const P = 32;

const sim = await startSimProcess(['--latency', '0'], benchKeys);
process.env.DROVER_SIM_URL = sim.url;
const store = await benchStore();
const flock = layeredFlock(N, 1, 3);
try {
  {
    const db = store.db;
    const parts = benchEngineParts(db, P * 2);
    const config = await loadFlock(flock.dir, parts.catalog);
    const t = performance.now();
    const r = await apply(config, { target: 't1', artifacts: {} }, { ...parts, parallelism: P });
    if (!r.ok) throw new Error('setup apply failed');
    console.log(
      `[plan-noop] setup: applied ${N} resources in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    // One process per PGlite directory: the child opens it next (on PostgreSQL, the child's own pool).
    await db.close();
  }
  const out = await new Promise<string>((resolve, reject) => {
    // BENCH_NODE_ARGS: extra node flags for the measured child (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, 'bench/plan-noop-child.mjs'], {
      env: {
        ...process.env,
        ...benchKeys,
        BENCH_DIR: flock.dir,
        ...(store.dataDir ? { BENCH_DATA_DIR: store.dataDir } : {}),
        ...(store.url ? { DATABASE_URL: store.url } : {}),
        BENCH_P: String(P),
        BENCH_BUILD_DIR: ensureBuild('plan-noop'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let s = '';
    child.stdout.on('data', (d: Buffer) => (s += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`child exited ${code}`))));
  });
  const m = JSON.parse(out.trim().split('\n').pop()!) as {
    plan_ms: number;
    loop_ms: number;
    plan_first_ms: number;
    plans_ms: number[];
    loops_ms: number[];
    plan_cpu_ms: number;
    loop_cpu_ms: number;
    rss_mb: number;
    changes: number;
  };
  report({
    bench: 'plan-noop',
    figures: {
      store: store.where,
      resources: N,
      parallelism: P,
      plan_ms: m.plan_ms,
      bare_loop_ms: m.loop_ms,
      'plan/loop': m.plan_ms / m.loop_ms,
      first_plan_ms: m.plan_first_ms,
      'first_plan/loop': m.plan_first_ms / m.loop_ms,
      rounds: `plans ${m.plans_ms.map((x) => x.toFixed(0)).join('/')} loops ${m.loops_ms.map((x) => x.toFixed(0)).join('/')}`,
      plan_cpu_ms: m.plan_cpu_ms,
      bare_loop_cpu_ms: m.loop_cpu_ms,
      peak_rss_mb: m.rss_mb,
      changes: m.changes,
    },
    goal: 'plan ≤ 1.5 × bare loop and peak RSS ≤ 400 MB (and no changes)',
    met: m.plan_ms <= 1.5 * m.loop_ms && m.rss_mb <= 400 && m.changes === 0,
  });
} finally {
  rmSync(flock.dir, { recursive: true, force: true });
  await store.cleanup();
  await sim.stop();
}
