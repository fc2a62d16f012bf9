/**
 * @module signing/verify — checks a received request's SigV4 signature (the simulator's side).
 *
 * The canonical request is rebuilt from exactly the headers the client claims to have signed, with the
 * client's claimed date, and signed again with the same code the signer uses (sigv4.ts).
 * Refused: unsigned, malformed, unknown key, wrong scope, a required header left unsigned, a body that
 * does not match its signed hash, a bad signature, a timestamp beyond the allowed skew, a replay.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  ALWAYS_REQUIRED_SIGNED,
  DEFAULT_MAX_SKEW_MS,
  HEADER,
  REQUIRED_SIGNED_IF_PRESENT,
  SIGNING_REGION,
  SIGNING_SERVICE,
} from './constants.ts';
import type { ReplayCache } from './replay-cache.ts';
import { computeSignature, sha256Hex } from './sigv4.ts';

export interface VerifiableRequest {
  readonly method: string;
  /** The request target as received: path with query (`req.url` in node:http). */
  readonly path: string;
  /** Received headers; node:http's lower-cased IncomingHttpHeaders fit as they are. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: string;
}

export interface VerifyOptions {
  readonly now?: Date;
  /** Default 5 minutes. */
  readonly maxSkewMs?: number;
  readonly replay: ReplayCache;
}

export type VerifyResult =
  { readonly ok: true; readonly accessKeyId: string } | { readonly ok: false; readonly reason: string };

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

function fail(reason: string): VerifyResult {
  return { ok: false, reason };
}

function headerValue(headers: VerifiableRequest['headers'], name: string): string | undefined {
  let v = headers[name];
  if (v === undefined) {
    for (const k in headers) {
      if (k.toLowerCase() === name) {
        v = headers[k];
        break;
      }
    }
  }
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}

function parseAmzDate(s: string): number | undefined {
  const m = AMZ_DATE_RE.exec(s);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isFinite(t) ? t : undefined;
}

export function verifyRequest(
  req: VerifiableRequest,
  lookupSecret: (accessKeyId: string) => string | undefined,
  opts: VerifyOptions,
): Promise<VerifyResult> {
  return Promise.resolve(verifyRequestSync(req, lookupSecret, opts));
}

/** The same, synchronously (nothing in it waits). */
export function verifyRequestSync(
  req: VerifiableRequest,
  lookupSecret: (accessKeyId: string) => string | undefined,
  opts: VerifyOptions,
): VerifyResult {
  const auth = headerValue(req.headers, HEADER.authorization);
  if (auth === undefined || auth === '') return fail('the request is unsigned (no Authorization header)');
  const m = AUTH_RE.exec(auth);
  if (!m)
    return fail(
      'malformed Authorization header (expected AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…)',
    );
  const [, accessKeyId = '', scopeDate = '', region, service, signedList = '', claimed = ''] = m;
  if (region !== SIGNING_REGION || service !== SIGNING_SERVICE) {
    return fail(
      `wrong credential scope ${region}/${service} (expected ${SIGNING_REGION}/${SIGNING_SERVICE})`,
    );
  }
  const secret = lookupSecret(accessKeyId);
  if (secret === undefined) return fail(`unknown access key "${accessKeyId}"`);

  const amzDate = headerValue(req.headers, HEADER.date);
  const dateMs = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || dateMs === undefined) return fail('missing or malformed x-amz-date header');
  if (!amzDate.startsWith(scopeDate)) return fail('the credential scope date does not match x-amz-date');
  const nowMs = (opts.now ?? new Date()).getTime();
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (Math.abs(nowMs - dateMs) > maxSkewMs) {
    return fail(
      `x-amz-date is ${Math.round((dateMs - nowMs) / 1000)} s off the server clock (allowed ±${Math.round(maxSkewMs / 1000)} s)`,
    );
  }

  const signedNames = signedList.split(';');
  for (const name of ALWAYS_REQUIRED_SIGNED) {
    if (!signedNames.includes(name)) return fail(`header ${name} must be signed`);
  }
  for (const name of REQUIRED_SIGNED_IF_PRESENT) {
    if (!signedNames.includes(name) && headerValue(req.headers, name) !== undefined)
      return fail(`header ${name} is present but not signed`);
  }
  const toSign = Object.create(null) as Record<string, string>;
  for (const name of signedNames) {
    const value = headerValue(req.headers, name);
    if (value === undefined) return fail(`signed header ${name} is missing`);
    toSign[name] = value;
  }
  const payloadHash = sha256Hex(req.body);
  if (toSign[HEADER.contentSha256] !== payloadHash)
    return fail('the body does not match x-amz-content-sha256');

  const q = req.path.indexOf('?');
  const { signature, signedHeaders } = computeSignature({
    method: req.method.toUpperCase(),
    path: q < 0 ? req.path : req.path.slice(0, q),
    query: q < 0 || q === req.path.length - 1 ? undefined : new URLSearchParams(req.path.slice(q + 1)),
    headers: toSign,
    payloadHash,
    longDate: amzDate,
    secret,
  });
  if (signedHeaders !== signedList || !timingSafeEqual(Buffer.from(signature), Buffer.from(claimed))) {
    return fail('signature mismatch (the request was altered or signed with another secret)');
  }
  if (!opts.replay.remember(claimed, dateMs + maxSkewMs, nowMs))
    return fail('replayed request (this signature was seen before)');
  return { ok: true, accessKeyId };
}
