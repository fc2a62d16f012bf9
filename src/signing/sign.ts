/**
 * @module signing/sign — signs an outgoing request with AWS Signature Version 4 (Drover's profile).
 *
 * Signed: method, path, query, the body hash and the headers `host`, `x-amz-date`, `x-amz-content-sha256`,
 * `x-drover-nonce` (fresh per call, so two identical calls never share a signature) and, when present,
 * `drover-fence`, `drover-worker`, `idempotency-key`, `content-type`. Other headers pass through unsigned,
 * so hop-by-hop headers a proxy or the HTTP stack rewrites never break a signature.
 */
import { randomUUID } from 'node:crypto';
import type { Credentials } from './credentials.ts';
import { HEADER, SIGNED_IF_PRESENT } from './constants.ts';
import { ALGORITHM, amzDate, computeSignature, sha256Hex } from './sigv4.ts';

export interface SignableRequest {
  readonly method: string;
  /** Absolute URL. */
  readonly url: string | URL;
  readonly headers: Readonly<Record<string, string>>;
  /** Exactly the bytes sent (a string is sent, and hashed, as UTF-8). */
  readonly body?: string | Uint8Array;
}

/** Headers the caller must not set: the signer computes them. */
const COMPUTED: ReadonlySet<string> = new Set([
  HEADER.authorization,
  HEADER.date,
  HEADER.contentSha256,
  HEADER.nonce,
  'date',
]);

/**
 * Returns the full header set to send: the caller's headers (names lower-cased) plus `host`,
 * `x-amz-date`, `x-amz-content-sha256`, `x-drover-nonce` and `authorization`.
 */
export function signRequest(
  req: SignableRequest,
  creds: Credentials,
  opts: { readonly now?: Date } = {},
): Promise<Record<string, string>> {
  return Promise.resolve(signRequestSync(req, creds, opts));
}

/** The same, synchronously (the computation never waits on anything). */
export function signRequestSync(
  req: SignableRequest,
  creds: Credentials,
  opts: { readonly now?: Date } = {},
): Record<string, string> {
  const url = typeof req.url === 'string' ? new URL(req.url) : req.url;
  const toSign: Record<string, string> = {};
  const out: Record<string, string> = {};
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (COMPUTED.has(lower) || lower === '__proto__') continue;
    if (SIGNED_IF_PRESENT.has(lower)) toSign[lower] = value;
    out[lower] = value;
  }
  const longDate = amzDate(opts.now ?? new Date());
  const payloadHash = sha256Hex(req.body ?? '');
  toSign[HEADER.host] = url.host;
  toSign[HEADER.date] = longDate;
  toSign[HEADER.nonce] = randomUUID();
  toSign[HEADER.contentSha256] = payloadHash;
  const { signature, signedHeaders, scope } = computeSignature({
    method: req.method.toUpperCase(),
    path: url.pathname,
    query: url.search === '' ? undefined : url.searchParams,
    headers: toSign,
    payloadHash,
    longDate,
    secret: creds.secretAccessKey,
  });
  Object.assign(out, toSign);
  out[HEADER.authorization] =
    `${ALGORITHM} Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}
