/**
 * @module providers/http-status — maps an HTTP error answer to the provider error the engine expects.
 *
 * 5xx, 429 and 408 are worth retrying (TransientError); any other 4xx is permanent (ProviderError) and
 * carries the service's stable code from its `{ "error": { "code", "message" } }` body when it has one.
 */
import { ProviderError, TransientError } from './types.ts';
import type { HttpResponse } from './types.ts';

export function isOk(res: HttpResponse): boolean {
  return res.status >= 200 && res.status < 300;
}

/** The service's error code and message, from `{error:{code,message}}`, `{code,message}` or text. */
export function errorBody(body: unknown): { code?: string; message?: string } {
  if (body !== null && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const inner = b.error !== null && typeof b.error === 'object' ? (b.error as Record<string, unknown>) : b;
    const code = typeof inner.code === 'string' ? inner.code : undefined;
    const message =
      typeof inner.message === 'string' ? inner.message : typeof b.error === 'string' ? b.error : undefined;
    return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
  }
  if (typeof body === 'string' && body.trim()) return { message: body.trim().slice(0, 300) };
  return {};
}

export function errorFromResponse(res: HttpResponse, what: string): TransientError | ProviderError {
  const { code, message } = errorBody(res.body);
  const text = `${what}: HTTP ${res.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
  if (res.status >= 500 || res.status === 429 || res.status === 408)
    return new TransientError(text, res.status);
  return new ProviderError(text, res.status, code ?? `HTTP_${res.status}`);
}

/** Throws the mapped error unless the answer is 2xx. */
export function ensureOk(res: HttpResponse, what: string): HttpResponse {
  if (!isOk(res)) throw errorFromResponse(res, what);
  return res;
}
