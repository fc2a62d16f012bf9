/**
 * @module signing/sigv4 — the AWS Signature Version 4 computation (HMAC-SHA256), on node:crypto.
 *
 * Why not call `@smithy/signature-v4` on the hot path: every simulator call is signed once (client or
 * proxy) and verified once (simulator), and SignatureV4 costs ~3.5× more per request (request cloning,
 * async hashing, an HMAC per call to key its signing-key cache). This module computes the same bytes;
 * `sigv4.test.ts` checks it against SignatureV4 + `@aws-crypto/sha256-js` on generated requests.
 */
import { createHmac, hash } from 'node:crypto';
import { SIGNING_REGION, SIGNING_SERVICE } from './constants.ts';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** One-shot `crypto.hash` (Node ≥ 20.12): ~3× cheaper than createHash().update().digest() per call. */
/** Of a body's bytes (a string is hashed as its UTF-8 bytes). */
export function sha256Hex(body: string | Uint8Array): string {
  return body.length === 0 ? EMPTY_SHA256 : hash('sha256', body, 'hex');
}

/** RFC 3986 escaping as SigV4 wants it (encodeURIComponent also leaves !'()* alone). */
export function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A path of unreserved characters and single slashes, no `.`/`..` segment: its canonical form is itself. */
const PLAIN_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~]+)*\/?$/;

/** Normalised, then escaped once more (SigV4 for every service but S3 double-encodes the path). */
export function canonicalPath(path: string): string {
  // Nearly every path is plain (`/regions/r/buckets/b-1`): normalising and escaping change nothing.
  if (PLAIN_PATH.test(path)) return path;
  const segs: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segs.pop();
    else segs.push(seg);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segs.join('/')}${segs.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

/** Sorted `k=v&…` of the query (as URLSearchParams decodes it), `X-Amz-Signature` left out. */
export function canonicalQuery(params: URLSearchParams | undefined): string {
  if (params === undefined) return '';
  const byKey = new Map<string, string[]>();
  for (const [k, v] of params) {
    if (k.toLowerCase() === 'x-amz-signature') continue;
    const ek = escapeUri(k);
    const pair = `${ek}=${escapeUri(v)}`;
    const list = byKey.get(ek);
    if (list) list.push(pair);
    else byKey.set(ek, [pair]);
  }
  if (byKey.size === 0) return '';
  return [...byKey.keys()]
    .sort()
    .map((k) => (byKey.get(k) as string[]).sort().join('&'))
    .join('&');
}

let lastDateSecond = NaN;
let lastDate = '';

/** `Date` → `YYYYMMDDTHHMMSSZ` (the last second's string is kept: every call of a second shares it). */
export function amzDate(d: Date): string {
  const second = Math.floor(d.getTime() / 1000);
  if (second === lastDateSecond) return lastDate;
  const s = d.toISOString();
  lastDate = `${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}T${s.slice(11, 13)}${s.slice(14, 16)}${s.slice(17, 19)}Z`;
  lastDateSecond = second;
  return lastDate;
}

const MAX_KEYS = 256;
const keyCache = new Map<string, Buffer>();

/** kSigning = HMAC chain over date, region, service, "aws4_request"; cached per (secret, day). */
function signingKey(secret: string, day: string): Buffer {
  const cacheKey = `${day}\u0000${secret}`;
  let k = keyCache.get(cacheKey);
  if (k === undefined) {
    k = createHmac('sha256', `AWS4${secret}`).update(day).digest();
    for (const part of [SIGNING_REGION, SIGNING_SERVICE, 'aws4_request'])
      k = createHmac('sha256', k).update(part).digest();
    if (keyCache.size >= MAX_KEYS) keyCache.clear();
    keyCache.set(cacheKey, k);
  }
  return k;
}

/** A value with no line break, tab, doubled space, or space at either end: already canonical. */
const NEEDS_TRIM = /[\r\n\t]| {2}|^ | $/;

function canonicalHeaderValue(v: string): string {
  if (!NEEDS_TRIM.test(v)) return v;
  return v
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

export interface SignatureInput {
  readonly method: string;
  /** The path as sent on the wire (already percent-encoded), without the query. */
  readonly path: string;
  readonly query: URLSearchParams | undefined;
  /** Exactly the headers to sign, names lower-case, `x-amz-date` included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly payloadHash: string;
  /** `YYYYMMDDTHHMMSSZ`, equal to headers['x-amz-date']. */
  readonly longDate: string;
  readonly secret: string;
}

export interface SignatureOutput {
  readonly signature: string;
  readonly signedHeaders: string;
  /** `DAY/global/drover-sim/aws4_request`. */
  readonly scope: string;
}

export function computeSignature(i: SignatureInput): SignatureOutput {
  const names = Object.keys(i.headers).sort();
  let canonicalHeaders = '';
  for (const n of names) canonicalHeaders += `${n}:${canonicalHeaderValue(i.headers[n] as string)}\n`;
  const signedHeaders = names.join(';');
  const canonicalRequest = `${i.method}\n${canonicalPath(i.path)}\n${canonicalQuery(i.query)}\n${canonicalHeaders}\n${signedHeaders}\n${i.payloadHash}`;
  const day = i.longDate.slice(0, 8);
  const scope = `${day}/${SIGNING_REGION}/${SIGNING_SERVICE}/aws4_request`;
  const stringToSign = `${ALGORITHM}\n${i.longDate}\n${scope}\n${hash('sha256', canonicalRequest, 'hex')}`;
  const signature = createHmac('sha256', signingKey(i.secret, day)).update(stringToSign).digest('hex');
  return { signature, signedHeaders, scope };
}
