/**
 * @module signing/http-client — the HttpClient local mode hands to providers: keep-alive, JSON in and
 * out, SigV4-signed (or plain), never throwing for an HTTP status, throwing TransientError only when no
 * response was had (refused, reset, timeout).
 *
 * It is on the hot path of every plan and apply, so per request it allocates little: one shared agent,
 * synchronous signing (sigv4.ts), no per-request closures beyond node:http's own.
 */
import http from 'node:http';
import https from 'node:https';
import type { HttpClient, HttpRequest, HttpResponse } from '../providers/types.ts';
import { TransientError } from '../providers/types.ts';
import type { Credentials } from './credentials.ts';
import { signRequestSync } from './sign.ts';

export interface HttpClientOptions {
  /** Whole-request deadline (connect to last body byte). Default 30 s. */
  readonly timeoutMs?: number;
  /** Concurrent sockets per origin. Default 64. */
  readonly maxSockets?: number;
}

/** An HttpClient that also owns sockets; `close()` ends the keep-alive pool. */
export interface ClosableHttpClient extends HttpClient {
  close(): void;
}

type HeaderSigner = (
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string,
) => Record<string, string>;

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_SOCKETS = 64;

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('the request was aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * Requests in flight per abort signal. One listener per signal, not one per request: a run hands the
 * same signal to thousands of calls, and adding and removing a listener on each is measurable there.
 * The set is returned so that the request's end removes itself without looking it up again.
 */
const inFlight = new WeakMap<AbortSignal, Set<http.ClientRequest>>();

function inFlightOf(signal: AbortSignal): Set<http.ClientRequest> {
  let set = inFlight.get(signal);
  if (!set) {
    const requests = new Set<http.ClientRequest>();
    set = requests;
    inFlight.set(signal, requests);
    signal.addEventListener(
      'abort',
      () => {
        for (const r of requests) r.destroy(abortError(signal));
        requests.clear();
      },
      { once: true },
    );
  }
  return set;
}

function flattenHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined) out[k] = typeof v === 'string' ? v : v.join(', ');
  }
  return out;
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return contentType?.includes('json') ? null : '';
  if (contentType === undefined || contentType.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

class NodeHttpClient implements ClosableHttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly timeoutMs: number;

  constructor(
    private readonly signer: HeaderSigner | undefined,
    opts: HttpClientOptions,
  ) {
    const maxSockets = opts.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets });
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      throw new TypeError(`not an absolute URL: ${req.url}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`unsupported URL scheme: ${url.protocol}`);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (req.headers) for (const k in req.headers) headers[k.toLowerCase()] = req.headers[k] as string;
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
    if (req.signal?.aborted) throw abortError(req.signal);
    try {
      return await this.send(req.method, url, headers, body, req.signal);
    } catch (e) {
      // A keep-alive socket the server closed while idle fails at once with ECONNRESET before the
      // request reached the server; try once more on a fresh socket (re-signed: new nonce, no replay).
      if (e instanceof StaleSocketError) return this.send(req.method, url, headers, body, req.signal);
      throw e;
    }
  }

  private send(
    method: string,
    url: URL,
    baseHeaders: Record<string, string>,
    body: string,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    const headers = this.signer ? this.signer(method, url, baseHeaders, body) : { ...baseHeaders };
    if (body !== '') headers['content-length'] = String(Buffer.byteLength(body));
    const isHttps = url.protocol === 'https:';
    const started = Date.now();
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const cr = (isHttps ? https : http).request({
        protocol: url.protocol,
        hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname + url.search,
        method,
        headers,
        agent: isHttps ? this.httpsAgent : this.httpAgent,
      });
      const timer = setTimeout(() => {
        cr.destroy(
          new TransientError(
            `${method} ${url.origin}${url.pathname}: no response within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      const tracked = signal ? inFlightOf(signal) : undefined;
      tracked?.add(cr);
      const finish = (err: Error | undefined, res?: HttpResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        tracked?.delete(cr);
        if (err) reject(err);
        else resolve(res as HttpResponse);
      };
      cr.on('error', (err: NodeJS.ErrnoException) => {
        if (
          err instanceof TransientError ||
          err.name === 'AbortError' ||
          (signal?.aborted && err === signal.reason)
        )
          return finish(err);
        if (cr.reusedSocket && err.code === 'ECONNRESET' && Date.now() - started < 1000)
          return finish(new StaleSocketError());
        finish(new TransientError(`${method} ${url.origin}${url.pathname}: ${err.code ?? err.message}`));
      });
      cr.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: Error) =>
          finish(
            err instanceof TransientError || err.name === 'AbortError'
              ? err
              : new TransientError(`${method} ${url.origin}${url.pathname}: response cut: ${err.message}`),
          ),
        );
        res.on('end', () => {
          const text =
            chunks.length === 1
              ? (chunks[0] as Buffer).toString('utf8')
              : Buffer.concat(chunks).toString('utf8');
          finish(undefined, {
            status: res.statusCode ?? 0,
            headers: flattenHeaders(res.headers),
            body: parseBody(text, res.headers['content-type']),
          });
        });
      });
      if (body !== '') cr.end(body);
      else cr.end();
    });
  }
}

class StaleSocketError extends Error {}

/** A SigV4-signing client for the simulator (local mode; the proxy signs on the worker's behalf). */
export function createSignedHttpClient(creds: Credentials, opts: HttpClientOptions = {}): ClosableHttpClient {
  const signer: HeaderSigner = (method, url, headers, body) =>
    signRequestSync({ method, url, headers, body }, creds);
  return new NodeHttpClient(signer, opts);
}

/** The same client without signing. */
export function createPlainHttpClient(opts: HttpClientOptions = {}): ClosableHttpClient {
  return new NodeHttpClient(undefined, opts);
}
