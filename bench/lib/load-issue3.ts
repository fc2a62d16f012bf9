/**
 * A small closed-loop HTTP load generator (autocannon-like), on node:http with a keep-alive agent, so
 * every path the proxy benchmark compares is driven by the very same client code: `concurrency` loops,
 * each sending its next request when the previous answer's last byte arrived.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { percentile } from './report.ts';

export interface Target {
  readonly host: string;
  readonly port: number;
}

export interface LoadOptions {
  readonly concurrency: number;
  /** Measured phase ends at this duration or at maxRequests, whichever comes first. */
  readonly durationMs: number;
  readonly maxRequests: number;
  /** Unmeasured warm-up before (connections opened, JIT warm). */
  readonly warmupMs: number;
  /** Per-request deadline. */
  readonly timeoutMs?: number;
}

export interface LoadResult {
  readonly requests: number;
  /** Answers that were not 2xx, and requests with no answer (errors, timeouts). */
  readonly non2xx: number;
  readonly errors: number;
  readonly durationMs: number;
  /** 2xx answers per second. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** A sample status / error, for diagnosing a path that answers nothing but errors. */
  readonly sample: string;
  /** Every answered request's latency (ms), sorted. */
  readonly latencies: readonly number[];
}

/** Builds each request: path and headers (a signed request needs fresh headers every time). */
export type RequestFactory = () => { path: string; headers: Record<string, string> };

/** One GET on `agent`; resolves with the status once the whole body was read. */
function getOnce(
  agent: http.Agent,
  target: Target,
  req: { path: string; headers: Record<string, string> },
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const cr = http.request({
      agent,
      host: target.host,
      port: target.port,
      method: 'GET',
      path: req.path,
      headers: req.headers,
    });
    const timer = setTimeout(() => cr.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    cr.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    cr.on('response', (res) => {
      res.on('data', () => {});
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
      });
    });
    cr.end();
  });
}

export async function closedLoop(
  target: Target,
  make: RequestFactory,
  opts: LoadOptions,
): Promise<LoadResult> {
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: opts.concurrency,
    maxFreeSockets: opts.concurrency,
  });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let sample = '';
  let measuring = false;
  let stop = false;
  let issued = 0;
  const loop = async (): Promise<void> => {
    while (!stop) {
      if (measuring && issued >= opts.maxRequests) return;
      if (measuring) issued++;
      const counted = measuring;
      const t = performance.now();
      try {
        const status = await getOnce(agent, target, make(), timeoutMs);
        if (!counted) continue;
        latencies.push(performance.now() - t);
        if (status < 200 || status >= 300) {
          non2xx++;
          sample ||= `status ${status}`;
        }
      } catch (e) {
        if (!counted) continue;
        errors++;
        sample ||= (e as Error).message;
      }
    }
  };
  const loops = Array.from({ length: opts.concurrency }, loop);
  await new Promise((r) => setTimeout(r, opts.warmupMs));
  measuring = true;
  const t0 = performance.now();
  const timer = setTimeout(() => (stop = true), opts.durationMs);
  // Loops end at maxRequests (each returns) or when the duration is up (stop).
  const done = Promise.all(loops);
  await Promise.race([done, new Promise((r) => setTimeout(r, opts.durationMs))]);
  stop = true;
  await done;
  clearTimeout(timer);
  const durationMs = performance.now() - t0;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const total = latencies.length + errors;
  return {
    requests: total,
    non2xx,
    errors,
    durationMs,
    rps: (latencies.length - non2xx) / (durationMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
    sample,
    latencies: sorted,
  };
}

/** One result from several slices of the same path (interleaved rounds): totals, and percentiles over all. */
export function mergeResults(parts: readonly LoadResult[]): LoadResult {
  const sorted = parts.flatMap((p) => p.latencies).sort((a, b) => a - b);
  const durationMs = parts.reduce((a, p) => a + p.durationMs, 0);
  const non2xx = parts.reduce((a, p) => a + p.non2xx, 0);
  return {
    requests: parts.reduce((a, p) => a + p.requests, 0),
    non2xx,
    errors: parts.reduce((a, p) => a + p.errors, 0),
    durationMs,
    rps: (sorted.length - non2xx) / (durationMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
    sample: parts.map((p) => p.sample).find((x) => x) ?? '',
    latencies: sorted,
  };
}
