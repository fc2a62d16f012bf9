/**
 * @module signing/signer-cache — one SignatureV4 instance per key pair, reused across requests.
 *
 * SignatureV4 caches derived signing keys per (date, scope, key); building one per request would redo
 * that work each time. The cache is small and bounded: a process signs with few key pairs.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import type { Credentials } from './credentials.ts';
import { SIGNING_REGION, SIGNING_SERVICE } from './constants.ts';
import { NodeSha256 } from './node-sha256.ts';

const MAX_SIGNERS = 64;
const signers = new Map<string, SignatureV4>();

export function signerFor(creds: Credentials): SignatureV4 {
  const key = `${creds.accessKeyId}\u0000${creds.secretAccessKey}`;
  let signer = signers.get(key);
  if (signer === undefined) {
    if (signers.size >= MAX_SIGNERS) signers.clear();
    signer = new SignatureV4({
      credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey },
      region: SIGNING_REGION,
      service: SIGNING_SERVICE,
      sha256: NodeSha256,
      uriEscapePath: true,
      applyChecksum: true,
    });
    signers.set(key, signer);
  }
  return signer;
}
