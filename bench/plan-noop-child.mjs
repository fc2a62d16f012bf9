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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const databaseUrl = process.env.DATABASE_URL;
// Opened as `drover plan` opens its store (a short-lived command: StoreOptions.shortLived).
const db = await openStore(
  databaseUrl ? { databaseUrl } : { dataDir: process.env.BENCH_DATA_DIR, shortLived: true },
);
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
// The bare loop's URLs from the ids in state, read with a query of their own: the benchmark's
// bookkeeping should not hold a second copy of the state in the process whose peak RSS is measured.
const { rows: ids } = await db.query(
  `SELECT type, id FROM drover_state_resources WHERE flock = $1 AND target = 't1' ORDER BY address`,
  [config.flock],
);
const urls = ids.map(
  (r) =>
    `${process.env.DROVER_SIM_URL}/regions/bench-1/${r.type === 'sim.bucket' ? 'buckets' : 'users'}/${r.id}`,
);
await mapLimit(urls.slice(0, 1000), P, async (url) => {
  await parts.http.request({ method: 'GET', url });
});

// Timed rounds: the plan and the bare loop alternate ROUNDS times, and each side's median is
// compared, so a slow moment of the machine falls on both. The first plan is also reported alone
// (cold: the engine's code not yet optimised), and peak RSS is read right after it: one plan's peak,
// as a `drover plan` process has it, not that of several plans in a row.
// CPU time (this process, every thread: the embedded database's too) is taken beside wall time: on a
// shared machine it moves far less from run to run, so it shows what a change did to the work itself.
const cpuMs = (since) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};
const plansCpu = [];
const loopsCpu = [];
const timePlan = async () => {
  const t = performance.now();
  const c = process.cpuUsage();
  const p = await plan(config, { target: 't1', artifacts: {} }, { ...parts, parallelism: P });
  plansCpu.push(cpuMs(c));
  return { ms: performance.now() - t, changes: p.operations.filter((o) => o.action !== 'no-op').length };
};
const timeLoop = async () => {
  const t = performance.now();
  const c = process.cpuUsage();
  await mapLimit(urls, P, async (url) => {
    const res = await parts.http.request({ method: 'GET', url });
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  });
  loopsCpu.push(cpuMs(c));
  return performance.now() - t;
};
const first = await timePlan();
const rssMb = process.resourceUsage().maxRSS / 1024;
const plans = [first.ms];
const loops = [await timeLoop()];
let changes = first.changes;
for (let i = 1; i < ROUNDS; i++) {
  const p = await timePlan();
  plans.push(p.ms);
  changes = Math.max(changes, p.changes);
  loops.push(await timeLoop());
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
await db.close();
console.log(
  JSON.stringify({
    plan_ms: median(plans),
    loop_ms: median(loops),
    plan_first_ms: first.ms,
    plans_ms: plans,
    loops_ms: loops,
    plan_cpu_ms: median(plansCpu),
    loop_cpu_ms: median(loopsCpu),
    rss_mb: rssMb,
    changes,
  }),
);
