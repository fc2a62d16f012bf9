/**
 * @module signing/sign — signs an outgoing request with AWS Signature Version 4 (Drover's profile).
 *
 * Signed: method, path, query, the body hash and the headers `host`, `x-amz-date`, `x-amz-content-sha256`,
 * `x-drover-nonce` (fresh per call, so two identical calls never share a signature) and, when present,
 * `drover-fence`, `drover-worker`, `idempotency-key`, `content-type`. Other headers pass through unsigned.
 */
import { randomUUID } from 'node:crypto';
import type { Credentials } from './credentials.ts';
import { HEADER, SIGNED_IF_PRESENT } from './constants.ts';
import { EMPTY_SHA256, sha256Hex } from './node-sha256.ts';
import { signerFor } from './signer-cache.ts';

export interface SignableRequest {
  readonly method: string;
  /** Absolute URL. */
  readonly url: string | URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Headers the caller must not set: the signer computes them. */
const COMPUTED: ReadonlySet<string> = new Set([HEADER.authorization, HEADER.date, HEADER.contentSha256, HEADER.nonce, 'date']);

/** Splits a URL's query into SigV4's shape (repeated keys become arrays). */
export function queryRecord(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of params) {
    const prior = out[k];
    if (prior === undefined) out[k] = v;
    else if (Array.isArray(prior)) prior.push(v);
    else out[k] = [prior, v];
  }
  return out;
}

/**
 * Returns the full header set to send: the caller's headers (names lower-cased) plus `host`,
 * `x-amz-date`, `x-amz-content-sha256`, `x-drover-nonce` and `authorization`.
 */
export async function signRequest(
  req: SignableRequest,
  creds: Credentials,
  opts: { readonly now?: Date } = {},
): Promise<Record<string, string>> {
  const url = typeof req.url === 'string' ? new URL(req.url) : req.url;
  const toSign: Record<string, string> = {};
  const passThrough: Record<string, string> = {};
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (COMPUTED.has(lower)) continue;
    if (SIGNED_IF_PRESENT.has(lower)) toSign[lower] = value;
    else passThrough[lower] = value;
  }
  toSign[HEADER.host] = url.host;
  toSign[HEADER.nonce] = randomUUID();
  const body = req.body ?? '';
  // Set here (node:crypto) so SignatureV4 takes it instead of hashing the body itself.
  toSign[HEADER.contentSha256] = body === '' ? EMPTY_SHA256 : sha256Hex(body);

  const signed = await signerFor(creds).sign(
    {
      method: req.method.toUpperCase(),
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: url.search === '' ? {} : queryRecord(url.searchParams),
      headers: toSign,
      ...(body === '' ? {} : { body }),
    },
    { signingDate: opts.now ?? new Date() },
  );
  return Object.assign(passThrough, signed.headers as Record<string, string>);
}
