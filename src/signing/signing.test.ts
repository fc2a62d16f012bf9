import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DroverError } from '../errors.ts';
import {
  credentialsFromEnv,
  parseKeyList,
  ReplayCache,
  signRequest,
  verifyRequest,
  type Credentials,
} from './index.ts';

const creds: Credentials = { accessKeyId: 'AKTEST', secretAccessKey: 'secret-test' };
const lookup = (k: string): string | undefined =>
  k === creds.accessKeyId ? creds.secretAccessKey : undefined;
const URL_ = 'http://127.0.0.1:7900/regions/sim-1/networks?name=a%20b&x=1&x=2';

async function signed(extra: Record<string, string> = {}, body = '{"name":"n"}', now?: Date) {
  const headers = await signRequest(
    {
      method: 'POST',
      url: URL_,
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'ua', ...extra },
      body,
    },
    creds,
    now ? { now } : {},
  );
  return { method: 'POST', path: '/regions/sim-1/networks?name=a%20b&x=1&x=2', headers, body };
}

describe('signRequest', () => {
  it('adds the SigV4 headers and signs fence, worker and idempotency headers', async () => {
    const r = await signed({ 'Drover-Fence': 'task-1:3', 'Idempotency-Key': 'k1', 'Drover-Worker': 'w1' });
    expect(r.headers['host']).toBe('127.0.0.1:7900');
    expect(r.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(r.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(r.headers['x-drover-nonce']).toBeTruthy();
    expect(r.headers['user-agent']).toBe('ua');
    const auth = r.headers['authorization'] ?? '';
    expect(auth).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKTEST\/\d{8}\/global\/drover-sim\/aws4_request, SignedHeaders=/,
    );
    const signedList = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';');
    expect(signedList).toEqual(
      expect.arrayContaining([
        'drover-fence',
        'drover-worker',
        'idempotency-key',
        'host',
        'x-amz-date',
        'x-drover-nonce',
        'content-type',
        'x-amz-content-sha256',
      ]),
    );
    expect(signedList).not.toContain('user-agent');
  });

  it('hashes a body given as bytes by its bytes, and a string by its UTF-8 bytes', async () => {
    const text = '{"name":"ünïcode"}';
    const asBytes = await signRequest(
      { method: 'PUT', url: URL_, headers: {}, body: Buffer.from(text, 'utf8') },
      creds,
    );
    const asText = await signRequest({ method: 'PUT', url: URL_, headers: {}, body: text }, creds);
    expect(asBytes['x-amz-content-sha256']).toBe(asText['x-amz-content-sha256']);
    const binary = Buffer.from([0xff, 0xfe, 0x00]);
    const b = await signRequest({ method: 'PUT', url: URL_, headers: {}, body: binary }, creds);
    expect(b['x-amz-content-sha256']).toBe(createHash('sha256').update(binary).digest('hex'));
    const empty = await signRequest({ method: 'PUT', url: URL_, headers: {}, body: Buffer.alloc(0) }, creds);
    expect(empty['x-amz-content-sha256']).toBe(createHash('sha256').digest('hex'));
  });

  it('uses a fresh nonce per call, so identical calls have different signatures', async () => {
    const a = await signed();
    const b = await signed();
    expect(a.headers['x-drover-nonce']).not.toBe(b.headers['x-drover-nonce']);
    expect(a.headers['authorization']).not.toBe(b.headers['authorization']);
  });
});

describe('verifyRequest', () => {
  it('accepts a signed request once, refuses the replay', async () => {
    const replay = new ReplayCache();
    const r = await signed({ 'Drover-Fence': 't:1' });
    expect(await verifyRequest(r, lookup, { replay })).toEqual({ ok: true, accessKeyId: 'AKTEST' });
    const again = await verifyRequest(r, lookup, { replay });
    expect(again.ok).toBe(false);
    expect(!again.ok && again.reason).toMatch(/replay/);
  });

  it('refuses unsigned, unknown key, and tampered body, header, path, query, method', async () => {
    const replay = new ReplayCache();
    const r = await signed({ 'Drover-Fence': 't:5', 'Idempotency-Key': 'k' });
    const cases: Array<[string, typeof r, RegExp]> = [
      ['unsigned', { ...r, headers: { ...r.headers, authorization: '' } }, /unsigned/],
      ['body', { ...r, body: '{"name":"m"}' }, /body/],
      ['fence', { ...r, headers: { ...r.headers, 'drover-fence': 't:6' } }, /signature mismatch/],
      ['idem', { ...r, headers: { ...r.headers, 'idempotency-key': 'k2' } }, /signature mismatch/],
      ['path', { ...r, path: r.path.replace('networks', 'buckets') }, /signature mismatch/],
      ['query', { ...r, path: r.path.replace('x=2', 'x=3') }, /signature mismatch/],
      ['method', { ...r, method: 'PATCH' }, /signature mismatch/],
      ['nonce', { ...r, headers: { ...r.headers, 'x-drover-nonce': 'other' } }, /signature mismatch/],
    ];
    for (const [name, req, re] of cases) {
      const v = await verifyRequest(req, lookup, { replay });
      expect(v.ok, name).toBe(false);
      expect(!v.ok && v.reason, name).toMatch(re);
    }
    const unknown = await verifyRequest(r, () => undefined, { replay });
    expect(!unknown.ok && unknown.reason).toMatch(/unknown access key/);
    const wrongSecret = await verifyRequest(r, () => 'other-secret', { replay });
    expect(!wrongSecret.ok && wrongSecret.reason).toMatch(/signature mismatch/);
    // None of the refusals consumed the signature: the genuine request still passes.
    expect((await verifyRequest(r, lookup, { replay })).ok).toBe(true);
  });

  it('refuses a fence or idempotency header added after signing', async () => {
    const r = await signed();
    const v = await verifyRequest({ ...r, headers: { ...r.headers, 'drover-fence': 't:9' } }, lookup, {
      replay: new ReplayCache(),
    });
    expect(!v.ok && v.reason).toMatch(/drover-fence is present but not signed/);
  });

  it('refuses clock skew beyond the limit, both directions', async () => {
    const now = new Date('2025-01-01T12:00:00Z');
    const old = await signed({}, '', new Date(now.getTime() - 6 * 60_000));
    const future = await signed({}, '', new Date(now.getTime() + 6 * 60_000));
    const ok = await signed({}, '', new Date(now.getTime() - 4 * 60_000));
    const replay = new ReplayCache();
    for (const r of [old, future]) {
      const v = await verifyRequest(r, lookup, { replay, now });
      expect(!v.ok && v.reason).toMatch(/off the server clock/);
    }
    expect((await verifyRequest(ok, lookup, { replay, now })).ok).toBe(true);
    expect((await verifyRequest(old, lookup, { replay, now, maxSkewMs: 10 * 60_000 })).ok).toBe(true);
  });
});

describe('ReplayCache', () => {
  it('forgets expired entries and stays bounded, failing closed on overflow', () => {
    const c = new ReplayCache({ maxEntries: 3 });
    expect(c.remember('a', 1000, 0)).toBe(true);
    expect(c.remember('a', 1000, 10)).toBe(false);
    expect(c.remember('b', 1001, 10)).toBe(true);
    expect(c.remember('c', 1002, 10)).toBe(true);
    expect(c.remember('d', 1003, 10)).toBe(true); // evicts a; floor = 1000
    expect(c.size).toBe(3);
    expect(c.remember('a', 1000, 10)).toBe(false); // evicted but under the floor: still refused
    expect(c.remember('e', 999, 10)).toBe(false);
    expect(c.remember('b', 1001, 20)).toBe(false);
    expect(c.remember('x', 5000, 2000)).toBe(true); // sweeps everything expired
    expect(c.size).toBe(1);
  });
});

describe('credentials', () => {
  it('reads the environment and reports what is missing', () => {
    expect(credentialsFromEnv({ DROVER_SIM_ACCESS_KEY: 'a', DROVER_SIM_SECRET_KEY: 's' })).toEqual({
      accessKeyId: 'a',
      secretAccessKey: 's',
    });
    try {
      credentialsFromEnv({ DROVER_SIM_ACCESS_KEY: 'a' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DroverError);
      expect((e as DroverError).code).toBe('CREDENTIALS_MISSING');
      expect((e as DroverError).message).toMatch(/DROVER_SIM_SECRET_KEY/);
    }
  });

  it('parses DROVER_SIM_KEYS', () => {
    expect(parseKeyList('a:1, b:2:3')).toEqual({ a: '1', b: '2:3' });
    expect(() => parseKeyList('nocolon')).toThrow(DroverError);
  });
});
