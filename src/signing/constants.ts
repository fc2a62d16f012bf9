/**
 * @module signing/constants — the fixed parts of Drover's SigV4 profile (docs/simulator.md).
 */

/** SigV4 service name in the credential scope. */
export const SIGNING_SERVICE = 'drover-sim';
/** SigV4 region in the credential scope: the simulator serves every region from one endpoint. */
export const SIGNING_REGION = 'global';
/** Requests further than this from the verifier's clock are refused; also how long replays are remembered. */
export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

export const HEADER = {
  host: 'host',
  date: 'x-amz-date',
  contentSha256: 'x-amz-content-sha256',
  nonce: 'x-drover-nonce',
  authorization: 'authorization',
  fence: 'drover-fence',
  worker: 'drover-worker',
  idempotencyKey: 'idempotency-key',
  contentType: 'content-type',
} as const;

/**
 * Headers covered by the signature when present. Only these are signed, so hop-by-hop headers that a
 * proxy or the HTTP stack may add or rewrite (connection, content-length, user-agent …) never break it.
 */
export const SIGNED_IF_PRESENT: ReadonlySet<string> = new Set([
  HEADER.host,
  HEADER.nonce,
  HEADER.fence,
  HEADER.worker,
  HEADER.idempotencyKey,
  HEADER.contentType,
]);

/** Headers a verifier insists are signed (when they are present in the request, for the optional ones). */
export const ALWAYS_REQUIRED_SIGNED = [HEADER.host, HEADER.date, HEADER.contentSha256, HEADER.nonce] as const;
export const REQUIRED_SIGNED_IF_PRESENT = [HEADER.fence, HEADER.idempotencyKey] as const;
