/**
 * @module signing/node-sha256 — a SHA-256 / HMAC-SHA256 `Checksum` for SignatureV4 backed by node:crypto.
 *
 * Why not only `@aws-crypto/sha256-js`: the pure-JS hash makes each signature ~40% slower, and every
 * simulator call is signed once and verified once. The digests are identical (a test compares them).
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

type Input = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: Input): Buffer | string {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export class NodeSha256 {
  private readonly secret: Buffer | string | undefined;
  private hash: Hash | Hmac;

  constructor(secret?: Input) {
    this.secret = secret === undefined ? undefined : toBuffer(secret);
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }

  update(data: Input): void {
    this.hash.update(toBuffer(data));
  }

  digest(): Promise<Uint8Array> {
    const out = this.hash.digest();
    return Promise.resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  }

  reset(): void {
    this.hash = this.fresh();
  }
}

/** Hex SHA-256 of a UTF-8 string (the payload hash SigV4 signs). */
export function sha256Hex(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
