/** The measured half of plan-noop, in a process of its own so that its peak RSS is the plan's. */
import { loadFlock } from '../src/config/index.ts';
import { plan } from '../src/engine/index.ts';
import { mapLimit } from '../src/engine/pool.ts';
import { openStore } from '../src/store/index.ts';
import { benchEngineParts } from './lib/setup.ts';

const P = Number(process.env.BENCH_P ?? 32);
const databaseUrl = process.env.DATABASE_URL;
const db = await openStore(databaseUrl ? { databaseUrl } : { dataDir: process.env.BENCH_DATA_DIR! });
const parts = benchEngineParts(db, P * 2);
const config = await loadFlock(process.env.BENCH_DIR!, parts.catalog);

// Warm-up, unmeasured: the first calls pay for connections and JIT; both measured runs come after it.
const snapshot = await parts.state.load(config.flock, 't1');
const urls = [...snapshot.resources.values()].map(
  (r) => `${process.env.DROVER_SIM_URL}/regions/bench-1/${r.type === 'sim.bucket' ? 'buckets' : 'users'}/${r.id}`,
);
await mapLimit(urls.slice(0, 1000), P, async (url) => {
  await parts.http.request({ method: 'GET', url });
});

const t0 = performance.now();
const p = await plan(config, { target: 't1', artifacts: {} }, { ...parts, parallelism: P });
const planMs = performance.now() - t0;
const changes = p.operations.filter((o) => o.action !== 'no-op').length;

// The bare loop: the same GETs, same client, same parallelism, no engine.
const t1 = performance.now();
await mapLimit(urls, P, async (url) => {
  const res = await parts.http.request({ method: 'GET', url });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
});
const loopMs = performance.now() - t1;
await db.close();
console.log(JSON.stringify({ plan_ms: planMs, loop_ms: loopMs, rss_mb: process.resourceUsage().maxRSS / 1024, changes }));
