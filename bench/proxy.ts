/**
 * proxy: what the signing proxy costs on a task's calls (SPEC.md §5).
 *
 * The same small signed GET (one bucket from the simulator, latency 0), sent by the same closed-loop
 * client (node:http keep-alive agent, BENCH_CONCURRENCY 16 in flight, BENCH_DURATION_S 10 s or
 * BENCH_REQUESTS 20,000 per path, after a 0.5 s warm-up per slice), three ways, in this one run, as
 * BENCH_ROUNDS (5) interleaved rounds of direct → proxy → nginx slices, merged per path:
 *   direct — to the simulator, signed by the client;
 *   proxy  — to a task endpoint (127.0.0.1 port) of the real signing proxy process (src/proxy via
 *            src/worker/proxy-process.ts, from the compiled build: bench/lib/build-issue3.ts), unsigned with `Drover-Target-Url`; the proxy checks the lease,
 *            signs, fences and forwards. Its lease is kept valid by heartbeats through its control socket,
 *            acknowledged by a small fake scheduler (bench/lib/fake-scheduler-issue3.ts, default timing);
 *   nginx  — through nginx as a plain reverse proxy (proxy_pass to a keep-alive upstream), signed by the
 *            client; nginx runs as our own process from a generated config, 1 worker process.
 * Goal: proxy p99 − direct p99 ≤ 2 ms, and proxy throughput ≥ 0.5 × nginx's.
 *
 *   npm run bench proxy               BENCH_DURATION_S=3 npm run bench proxy (quick check)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { signRequestSync } from '../src/signing/index.ts';
import type * as ProxyProcessModule from '../src/worker/proxy-process.ts';
import type { ProxyProcess } from '../src/worker/proxy-process.ts';
import { ensureBuild } from './lib/build-issue3.ts';
import { startFakeScheduler, type FakeScheduler } from './lib/fake-scheduler-issue3.ts';
import {
  closedLoop,
  mergeResults,
  type LoadOptions,
  type LoadResult,
  type Target,
} from './lib/load-issue3.ts';
import { killAll, spawnGroup, type Group, tempDir, waitFor } from './lib/procs-issue3.ts';
import { report } from './lib/report.ts';
import { benchKeys } from './lib/setup.ts';
import { startSimProcess, type SimProcess } from './lib/sim-process.ts';

const LOAD: LoadOptions = {
  concurrency: Number(process.env['BENCH_CONCURRENCY'] ?? 16),
  durationMs: Number(process.env['BENCH_DURATION_S'] ?? 10) * 1000,
  maxRequests: Number(process.env['BENCH_REQUESTS'] ?? 20_000),
  warmupMs: 500,
};
const ROUNDS = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 5));
const CREDS = {
  accessKeyId: benchKeys.DROVER_SIM_ACCESS_KEY,
  secretAccessKey: benchKeys.DROVER_SIM_SECRET_KEY,
};
const TASK = { id: 'bench-task', token: 1 };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A bucket to read, created directly (signed by us). */
async function createBucket(sim: SimProcess): Promise<string> {
  const url = new URL('/regions/sim-1/buckets', sim.url);
  const body = JSON.stringify({ name: `proxy-bench-${Date.now()}` });
  const headers = signRequestSync(
    {
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'idempotency-key': `pb-${Date.now()}` },
      body,
    },
    CREDS,
  );
  const res = await fetch(url, { method: 'POST', headers, body });
  const out = (await res.json()) as { id?: string };
  if (res.status !== 201 || !out.id)
    throw new Error(`creating the bucket answered ${res.status}: ${JSON.stringify(out)}`);
  return `/regions/sim-1/buckets/${out.id}`;
}

/** The signing proxy process with a valid lease for TASK, and its task endpoint's port. */
async function startLeasedProxy(
  sched: FakeScheduler,
): Promise<{ proxy: ProxyProcess; port: number; stopBeats: () => void }> {
  // From the compiled build, as a worker in production starts it (no tsx loader in the proxy process).
  const { controlRequest, startProxyProcess } = (await import(
    join(ensureBuild('proxy'), 'worker', 'proxy-process.js')
  )) as typeof ProxyProcessModule;
  const proxy = await startProxyProcess({
    server_url: sched.url,
    token: sched.token,
    credentials: CREDS,
    dir: join(tempDir('drover-bench-proxy-'), 'proxy'),
  });
  const reg = await controlRequest(proxy.controlSocket, 'POST', '/api/v1/workers/register', {
    name: 'bench',
    host: hostname(),
    pid: process.pid,
    capacity: 1,
  });
  if (reg.status !== 201)
    throw new Error(`register through the proxy answered ${reg.status}: ${JSON.stringify(reg.body)}`);
  const workerId = (reg.body as { worker_id: string }).worker_id;
  let seq = 0;
  const beat = async (): Promise<string> => {
    seq++;
    const r = await controlRequest(
      proxy.controlSocket,
      'POST',
      `/api/v1/workers/${workerId}/heartbeat`,
      { seq, tasks: [TASK.id] },
      { timeoutMs: 10_000 },
    );
    return (r.body as { proxy?: { ack?: string } } | null)?.proxy?.ack ?? `status ${r.status}`;
  };
  const first = await beat();
  if (first !== 'accepted')
    throw new Error(`the proxy did not accept the first lease acknowledgement: ${first}`);
  const timer = setInterval(() => void beat().catch(() => {}), 2_000);
  const ep = await controlRequest(proxy.controlSocket, 'POST', '/_proxy/tasks', {
    task_id: TASK.id,
    token: TASK.token,
    transport: 'tcp',
  });
  if (ep.status !== 201)
    throw new Error(`opening a task endpoint answered ${ep.status}: ${JSON.stringify(ep.body)}`);
  return { proxy, port: (ep.body as { port: number }).port, stopBeats: () => clearInterval(timer) };
}

/** nginx as a plain reverse proxy to the simulator, or why it is unavailable. */
async function startNginx(
  simPort: number,
): Promise<{ port: number; group: Group } | { unavailable: string }> {
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const bin = which.stdout.trim();
  if (which.status !== 0 || !bin) return { unavailable: 'nginx is not installed (apt-get install -y nginx)' };
  const dir = tempDir('drover-bench-nginx-');
  mkdirSync(join(dir, 'logs'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const tmp = (name: string): string => `${name}_temp_path ${join(dir, 'tmp', name)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log ${join(dir, 'logs', 'error.log')} warn;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 1024; }
http {
  access_log off;
  ${tmp('client_body')} ${tmp('proxy')} ${tmp('fastcgi')} ${tmp('uwsgi')} ${tmp('scgi')}
  upstream sim { server 127.0.0.1:${simPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }
  }
}
`,
  );
  const g = spawnGroup(
    'nginx',
    bin,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'logs', 'error.log'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  g.child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    await waitFor(
      'nginx to listen',
      async () => g.child.exitCode === null && (await canConnect(port)),
      10_000,
      100,
    );
  } catch {
    let log = '';
    try {
      log = readFileSync(join(dir, 'logs', 'error.log'), 'utf8');
    } catch {
      /* none */
    }
    return { unavailable: `nginx did not start: ${(stderr + log).trim().slice(0, 300)}` };
  }
  return { port, group: g };
}

function line(name: string, r: LoadResult): string {
  return `${name.padEnd(6)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  (${r.requests} requests in ${(r.durationMs / 1000).toFixed(1)} s${r.non2xx + r.errors ? `, ${r.non2xx} non-2xx, ${r.errors} errors, e.g. ${r.sample}` : ''})`;
}

let exitCode = 0;
let sim: SimProcess | undefined;
let sched: FakeScheduler | undefined;
let nginxGroup: Group | undefined;
let leased: Awaited<ReturnType<typeof startLeasedProxy>> | undefined;
try {
  sim = await startSimProcess(['--latency', '0'], benchKeys);
  const simUrl = new URL(sim.url);
  const path = await createBucket(sim);
  sched = await startFakeScheduler(TASK);
  leased = await startLeasedProxy(sched);
  const nginx = await startNginx(Number(simUrl.port));
  if ('group' in nginx) nginxGroup = nginx.group;

  const direct: Target = { host: '127.0.0.1', port: Number(simUrl.port) };
  const signedFor = (t: Target) => () => ({
    path,
    headers: signRequestSync(
      {
        method: 'GET',
        url: new URL(path, `http://${t.host}:${t.port}`),
        headers: { accept: 'application/json' },
      },
      CREDS,
    ),
  });
  console.log(
    `[proxy] GET ${path}, ${LOAD.concurrency} in flight, ${LOAD.durationMs / 1000} s or ${LOAD.maxRequests} requests` +
      ` per path, in ${ROUNDS} interleaved round(s) (direct, proxy, nginx, direct, …)`,
  );
  const target = new URL(path, sim.url).href;
  const proxyTarget: Target = { host: '127.0.0.1', port: leased.port };
  const nginxTarget: Target | null = 'port' in nginx ? { host: '127.0.0.1', port: nginx.port } : null;
  // Interleaved slices, so a change in the machine's load during the run falls on every path alike.
  const slice: LoadOptions = {
    ...LOAD,
    durationMs: LOAD.durationMs / ROUNDS,
    maxRequests: Math.ceil(LOAD.maxRequests / ROUNDS),
  };
  const parts: { direct: LoadResult[]; proxy: LoadResult[]; nginx: LoadResult[] } = {
    direct: [],
    proxy: [],
    nginx: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    parts.direct.push(await closedLoop(direct, signedFor(direct), slice));
    parts.proxy.push(
      await closedLoop(
        proxyTarget,
        () => ({ path, headers: { accept: 'application/json', 'drover-target-url': target } }),
        slice,
      ),
    );
    if (nginxTarget) parts.nginx.push(await closedLoop(nginxTarget, signedFor(nginxTarget), slice));
  }
  const d = mergeResults(parts.direct);
  const p = mergeResults(parts.proxy);
  const n = nginxTarget ? mergeResults(parts.nginx) : null;
  console.log(`[proxy] ${line('direct', d)}`);
  console.log(`[proxy] ${line('proxy', p)}`);
  if (n) console.log(`[proxy] ${line('nginx', n)}`);
  else if ('unavailable' in nginx) console.log(`[proxy] nginx  peer unavailable: ${nginx.unavailable}`);

  const clean = (r: LoadResult | null): boolean => r !== null && r.non2xx === 0 && r.errors === 0;
  const overhead = p.p99Ms - d.p99Ms;
  const ratio = n ? p.rps / n.rps : NaN;
  report({
    bench: 'proxy',
    figures: {
      concurrency: LOAD.concurrency,
      direct_rps: d.rps,
      direct_p50_ms: d.p50Ms,
      direct_p99_ms: d.p99Ms,
      proxy_rps: p.rps,
      proxy_p50_ms: p.p50Ms,
      proxy_p99_ms: p.p99Ms,
      nginx_rps: n ? n.rps : 'unavailable',
      nginx_p50_ms: n ? n.p50Ms : 'unavailable',
      nginx_p99_ms: n ? n.p99Ms : 'unavailable',
      proxy_p99_overhead_ms: overhead,
      'proxy/nginx_rps': n ? ratio : 'unavailable',
    },
    goal: `proxy p99 − direct p99 ≤ 2 ms and proxy req/s ≥ 0.5 × nginx req/s${n ? '' : ' (nginx unavailable: the throughput half is NOT judged, so the goal cannot be MET)'}; every answer 2xx`,
    met: overhead <= 2 && n !== null && ratio >= 0.5 && clean(d) && clean(p) && clean(n),
  });
} catch (e) {
  console.error(`[proxy] could not run: ${(e as Error).stack ?? String(e)}`);
  exitCode = 1;
} finally {
  leased?.stopBeats();
  await leased?.proxy.stop(3_000);
  await sched?.close();
  if (nginxGroup) {
    // The master alone first: it stops and reaps its worker (a group SIGKILL leaves the worker a zombie).
    try {
      process.kill(nginxGroup.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([nginxGroup.exited, new Promise((r) => setTimeout(r, 5_000))]);
  }
  await killAll();
  await sim?.stop();
}
process.exit(exitCode);
