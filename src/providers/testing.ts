/**
 * @module providers/testing — a real ProviderContext for provider tests (no mocks: real HTTP via fetch).
 *
 * `testContext()` gives sensible defaults (target `test` in region `sim-1`, fail-closed confirm, a
 * logger that keeps its lines); override any field. `fetchHttpClient()` is an unsigned HttpClient that
 * honours the HttpClient contract (never throws on HTTP statuses; TransientError when no answer).
 */
import { TransientError } from './types.ts';
import type { HttpClient, HttpRequest, HttpResponse, Logger, ProviderContext, TargetInfo } from './types.ts';

export function fetchHttpClient(): HttpClient {
  return {
    async request(req: HttpRequest): Promise<HttpResponse> {
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      let body: string | undefined;
      if (req.body !== undefined) {
        if (typeof req.body === 'string') body = req.body;
        else {
          body = JSON.stringify(req.body);
          headers['content-type'] ??= 'application/json';
        }
      }
      let res: Response;
      try {
        res = await fetch(req.url, {
          method: req.method,
          headers,
          ...(body !== undefined ? { body } : {}),
          ...(req.signal ? { signal: req.signal } : {}),
        });
      } catch (e) {
        if (req.signal?.aborted) throw e;
        const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
        throw new TransientError(
          `${req.method} ${req.url}: ${e instanceof Error ? e.message : String(e)}${cause}`,
        );
      }
      const text = await res.text();
      const outHeaders: Record<string, string> = {};
      res.headers.forEach((v, k) => (outHeaders[k] = v));
      let parsed: unknown = text;
      if ((outHeaders['content-type'] ?? '').includes('json') && text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: res.status, headers: outHeaders, body: parsed };
    },
  };
}

export interface MemoryLogger extends Logger {
  readonly lines: { level: string; msg: string; fields?: Record<string, unknown> }[];
}

export function memoryLogger(): MemoryLogger {
  const lines: MemoryLogger['lines'] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, ...(fields ? { fields } : {}) });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

export const TEST_TARGET: TargetInfo = { name: 'test', realm: 'r1', tenancy: 'test', region: 'sim-1' };

export function testContext(
  overrides: Partial<ProviderContext> = {},
): ProviderContext & { readonly log: Logger } {
  return {
    http: fetchHttpClient(),
    flockDir: process.cwd(),
    flock: 'test-flock',
    target: TEST_TARGET,
    releaseId: '00000000-0000-4000-8000-000000000001',
    executionId: '00000000-0000-4000-8000-000000000002',
    config: {},
    providerConfigs: {},
    log: memoryLogger(),
    signal: new AbortController().signal,
    confirm: async () => false,
    ...overrides,
  };
}
