/**
 * @module sim/http-util — small node:http helpers: read a bounded body, answer JSON, error bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode } from '../errors.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface Reply {
  readonly status: number;
  /** undefined → no body (204). */
  readonly body?: unknown;
  /** Set on refusals, for the journal. */
  readonly code?: ErrorCode;
}

export function errorReply(
  status: number,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): Reply {
  return { status, code, body: { error: { code, message, ...(details ? { details } : {}) } } };
}

/** Resolves the body as text, or null when it exceeds MAX_BODY_BYTES. */
export function readBody(req: IncomingMessage): Promise<string | null> {
  // Fast path: a request with no body (most GETs) needs no listeners at all.
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)
    return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else if (!tooLarge) chunks.push(c);
    });
    req.on('end', () =>
      resolve(
        tooLarge
          ? null
          : chunks.length === 1
            ? (chunks[0] as Buffer).toString('utf8')
            : Buffer.concat(chunks).toString('utf8'),
      ),
    );
    req.on('error', reject);
  });
}

export function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  if (reply.body === undefined) {
    res.writeHead(reply.status, { 'content-length': '0' });
    res.end();
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export type JsonParse =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reply: Reply };

/** Parses a JSON body; an empty body is `{}`. Never throws. */
export function parseJson(text: string): JsonParse {
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return {
      ok: false,
      reply: errorReply(400, 'VALIDATION', `the body is not valid JSON: ${(e as Error).message}`),
    };
  }
}
