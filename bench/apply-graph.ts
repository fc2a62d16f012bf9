/**
 * apply-graph: a generated DAG of 2,000 sim.* resources, depth 20, simulator latency 20 ms, parallelism 32.
 * Compares the apply's wall time with the lower bound max(critical path × latency, N × latency / P), the
 * latency measured against the same simulator in the same run. Goal: bound / wall ≥ 0.85.
 */
import { rmSync } from 'node:fs';
import { loadFlock } from '../src/config/index.ts';
import { apply } from '../src/engine/index.ts';
import { layeredFlock } from './lib/flocks.ts';
import { report } from './lib/report.ts';
import { benchEngineParts, benchKeys, benchStore } from './lib/setup.ts';
import { startSimProcess } from './lib/sim-process.ts';

const N = Number(process.env.BENCH_N ?? 2000);
const DEPTH = Number(process.env.BENCH_DEPTH ?? 20);
const LATENCY = 20;
const P = 32;

const sim = await startSimProcess(['--latency', String(LATENCY)], benchKeys);
process.env.DROVER_SIM_URL = sim.url;
// The apply runs in this process as `drover apply` runs in its own: the store opened as the CLI opens it.
const store = await benchStore({ shortLived: true });
const { db, where } = store;
const flock = layeredFlock(N, DEPTH, 7);
try {
  const parts = benchEngineParts(db, P * 2);
  // Measured latency of one signed call, in this run, against this simulator.
  const samples: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    await parts.http.request({ method: 'GET', url: `${sim.url}/regions/bench-1/buckets/none-${i}` });
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const latency = samples[Math.floor(samples.length / 2)]!;

  const config = await loadFlock(flock.dir, parts.catalog);
  const t0 = performance.now();
  const result = await apply(config, { target: 't1', artifacts: {} }, { ...parts, parallelism: P });
  const wall = performance.now() - t0;
  if (!result.ok) {
    const failed = result.results.filter((r) => !r.ok);
    throw new Error(
      `apply failed: ${failed.length} operations, first: ${failed[0]?.address}: ${failed[0]?.error}`,
    );
  }
  const bound = Math.max(flock.depth * latency, (flock.count * latency) / P);
  report({
    bench: 'apply-graph',
    figures: {
      store: where,
      resources: flock.count,
      depth: flock.depth,
      parallelism: P,
      latency_ms: latency,
      wall_ms: wall,
      bound_ms: bound,
      'bound/wall': bound / wall,
    },
    goal: 'bound / wall ≥ 0.85',
    met: bound / wall >= 0.85,
  });
} finally {
  rmSync(flock.dir, { recursive: true, force: true });
  await store.cleanup();
  await sim.stop();
}
