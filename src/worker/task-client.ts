/**
 * @module worker/task-client — the HttpClient a task process hands to its providers: every request goes to
 * the task's own proxy endpoint (a unix socket) with its real destination in `Drover-Target-Url`; the
 * proxy signs it, fences it, and lets it out only under a valid lease. The task holds no credentials.
 */
import http from 'node:http';
import { DroverError } from '../errors.ts';
import type { HttpClient, HttpRequest, HttpResponse } from '../providers/types.ts';
import { TransientError } from '../providers/types.ts';

/** Answers the proxy made itself carry this header (see proxy-server.ts PROXY_ERROR_HEADER). */
const PROXY_ERROR_HEADER = 'drover-proxy-error';

export interface ProxyHttpClientOptions {
  /** The task's proxy socket (DROVER_PROXY). */
  readonly socketPath: string;
  /** Base for relative URLs: the Drover server (DROVER_SERVER). */
  readonly serverUrl: string;
  /** Whole-request deadline; the proxy's own upstream timeout is shorter. Default 60 s. */
  readonly timeoutMs?: number;
}

export class ProxyHttpClient implements HttpClient {
  /** Set once the proxy refused a call because the lease was not valid (the run's outcome is then moot). */
  leaseLost = false;

  constructor(private readonly opts: ProxyHttpClientOptions) {}

  request(req: HttpRequest): Promise<HttpResponse> {
    const target = new URL(req.url, this.opts.serverUrl);
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
    let body = '';
    if (req.body !== undefined) {
      if (typeof req.body === 'string') {
        body = req.body;
        headers['content-type'] ??= 'text/plain; charset=utf-8';
      } else {
        body = JSON.stringify(req.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    if (body !== '') headers['content-length'] = String(Buffer.byteLength(body));
    headers['drover-target-url'] = target.href;
    const label = `${req.method} ${target.origin}${target.pathname}`;
    return new Promise<HttpResponse>((resolve, reject) => {
      const cr = http.request({
        socketPath: this.opts.socketPath,
        method: req.method,
        path: target.pathname + target.search,
        headers,
        agent: false,
      });
      const timeoutMs = this.opts.timeoutMs ?? 60_000;
      const timer = setTimeout(
        () => cr.destroy(new TransientError(`${label}: no response within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onAbort = (): void =>
        void cr.destroy(req.signal?.reason instanceof Error ? req.signal.reason : new Error('aborted'));
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
      };
      cr.on('error', (e: NodeJS.ErrnoException) => {
        settle();
        if (e instanceof TransientError || req.signal?.aborted) return reject(e);
        reject(new TransientError(`${label}: the signing proxy is unreachable (${e.code ?? e.message})`));
      });
      cr.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => {
          settle();
          reject(new TransientError(`${label}: response cut (${e.message})`));
        });
        res.on('end', () => {
          settle();
          const text = Buffer.concat(chunks).toString('utf8');
          const out: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
          const proxyError = out[PROXY_ERROR_HEADER];
          if (proxyError === 'upstream-unreachable')
            return reject(new TransientError(`${label}: ${messageOf(text)}`, res.statusCode));
          if (proxyError === 'lease-expired') {
            // Nothing reached the service, and nothing will while this worker's lease is gone: stop the task.
            this.leaseLost = true;
            return reject(new DroverError('LEASE_EXPIRED', `${label}: ${messageOf(text)}`));
          }
          const ct = out['content-type'];
          let parsed: unknown = text;
          if (text === '') parsed = ct?.includes('json') ? null : '';
          else if (ct === undefined || ct.includes('json')) {
            try {
              parsed = JSON.parse(text) as unknown;
            } catch {
              parsed = text;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: out, body: parsed });
        });
      });
      cr.end(body === '' ? undefined : body);
    });
  }
}

function messageOf(text: string): string {
  try {
    return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
  } catch {
    return text;
  }
}
