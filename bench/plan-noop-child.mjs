// The measured half of plan-noop, in a process of its own so that its peak RSS is the plan's. Plain
// JavaScript run by node on the compiled build (BENCH_BUILD_DIR, see lib/build-issue3.ts), as production
// runs Drover — not TypeScript compiled on the fly, whose loader alone holds ~50 MB.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const build = process.env.BENCH_BUILD_DIR;
const load = (p) => import(pathToFileURL(join(build, p)).href);
const { loadFlock } = await load('config/index.js');
const { plan } = await load('engine/index.js');
const { mapLimit } = await load('engine/pool.js');
const { openStore, DbStateBackend } = await load('store/index.js');
const { defaultCatalog } = await load('providers/index.js');
const { createSignedHttpClient } = await load('signing/index.js');

const P = Number(process.env.BENCH_P ?? 32);
const databaseUrl = process.env.DATABASE_URL;
const db = await openStore(databaseUrl ? { databaseUrl } : { dataDir: process.env.BENCH_DATA_DIR });
const parts = {
  catalog: defaultCatalog(),
  state: new DbStateBackend(db),
  http: createSignedHttpClient(
    { accessKeyId: process.env.DROVER_SIM_ACCESS_KEY, secretAccessKey: process.env.DROVER_SIM_SECRET_KEY },
    { maxSockets: P * 2 },
  ),
};
const config = await loadFlock(process.env.BENCH_DIR, parts.catalog);

// Warm-up, unmeasured: the first calls pay for connections and JIT; both measured runs come after it.
const snapshot = await parts.state.load(config.flock, 't1');
const urls = [...snapshot.resources.values()].map(
  (r) =>
    `${process.env.DROVER_SIM_URL}/regions/bench-1/${r.type === 'sim.bucket' ? 'buckets' : 'users'}/${r.id}`,
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
console.log(
  JSON.stringify({
    plan_ms: planMs,
    loop_ms: loopMs,
    rss_mb: process.resourceUsage().maxRSS / 1024,
    changes,
  }),
);
