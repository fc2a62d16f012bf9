import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../providers/types.ts';
import {
  createPlainHttpClient,
  createSignedHttpClient,
  signRequest,
  type ClosableHttpClient,
  type Credentials,
} from '../signing/index.ts';
import { startSim, type JournalEntry, type SimHandle, type SimOptions } from './index.ts';

const creds: Credentials = { accessKeyId: 'AKSIMTEST', secretAccessKey: 'shh-test-secret' };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function sim(
  opts: Partial<SimOptions> = {},
): Promise<{ s: SimHandle; c: ClosableHttpClient; plain: ClosableHttpClient }> {
  const s = await startSim({ keys: { [creds.accessKeyId]: creds.secretAccessKey }, seed: 1, ...opts });
  const c = createSignedHttpClient(creds, { timeoutMs: 5000 });
  const plain = createPlainHttpClient({ timeoutMs: 5000 });
  cleanups.push(
    () => s.close(),
    () => c.close(),
    () => plain.close(),
  );
  return { s, c, plain };
}

type Obj = Record<string, unknown>;
const errCode = (body: unknown): unknown => (body as { error?: { code?: unknown } }).error?.code;
const errMsg = (body: unknown): string => String((body as { error?: { message?: unknown } }).error?.message);

/** Sends exactly these headers and body with node:http (for replaying captured requests). */
function raw(
  url: string,
  method: string,
  headers: Record<string, string>,
  body = '',
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method, headers, agent: false }, (res) => {
      let t = '';
      res.on('data', (d: Buffer) => (t += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: t ? (JSON.parse(t) as unknown) : undefined }),
      );
    });
    r.on('error', reject);
    r.end(body);
  });
}

describe('resource API', () => {
  it('creates, reads, lists, updates and deletes, with idempotency keys', async () => {
    const { s, c, plain } = await sim();
    const base = `${s.url}/regions/sim-1`;
    const a = await c.request({
      method: 'POST',
      url: `${base}/networks`,
      headers: { 'Idempotency-Key': 'k1' },
      body: { name: 'net-a', cidr: '10.0.0.0/16' },
    });
    expect(a.status).toBe(201);
    const net = a.body as Obj;
    expect(net).toMatchObject({
      kind: 'network',
      name: 'net-a',
      region: 'sim-1',
      state: 'AVAILABLE',
      cidr: '10.0.0.0/16',
      idempotency_key: 'k1',
    });
    expect(net['id']).toMatch(/^net-[0-9a-f]{12}$/);
    expect(new Date(String(net['created_at'])).toISOString()).toBe(net['created_at']);

    const again = await c.request({
      method: 'POST',
      url: `${base}/networks`,
      headers: { 'Idempotency-Key': 'k1' },
      body: { name: 'net-a', cidr: '10.0.0.0/16' },
    });
    expect(again.status).toBe(200);
    expect((again.body as Obj)['id']).toBe(net['id']);

    expect(
      (await c.request({ method: 'GET', url: `${base}/networks/${String(net['id'])}` })).body,
    ).toMatchObject({ id: net['id'] });
    expect((await c.request({ method: 'GET', url: `${base}/networks?name=net-a` })).body).toHaveLength(1);
    expect(
      (await c.request({ method: 'GET', url: `${base}/networks?idempotency_key=k1` })).body,
    ).toHaveLength(1);
    expect((await c.request({ method: 'GET', url: `${base}/networks?idempotency_key=nope` })).body).toEqual(
      [],
    );
    expect(
      (await c.request({ method: 'GET', url: `${s.url}/regions/sim-2/networks?name=net-a` })).body,
    ).toEqual([]);

    const patched = await c.request({
      method: 'PATCH',
      url: `${base}/networks/${String(net['id'])}`,
      body: { cidr: '10.1.0.0/16' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ cidr: '10.1.0.0/16', name: 'net-a' });
    const rename = await c.request({
      method: 'PATCH',
      url: `${base}/networks/${String(net['id'])}`,
      body: { name: 'other' },
    });
    expect(rename.status).toBe(400);
    expect(errMsg(rename.body)).toMatch(/immutable/);

    const inv = (await plain.request({ method: 'GET', url: `${s.url}/_resources` })).body as Obj[];
    expect(inv).toEqual([
      { kind: 'network', id: net['id'], name: 'net-a', region: 'sim-1', state: 'AVAILABLE' },
    ]);

    expect((await c.request({ method: 'DELETE', url: `${base}/networks/${String(net['id'])}` })).status).toBe(
      204,
    );
    const gone = await c.request({ method: 'DELETE', url: `${base}/networks/${String(net['id'])}` });
    expect(gone.status).toBe(404);
    expect(errCode(gone.body)).toBe('NOT_FOUND');
    expect((await c.request({ method: 'GET', url: `${base}/networks/${String(net['id'])}` })).status).toBe(
      404,
    );
    expect((await plain.request({ method: 'GET', url: `${s.url}/_resources` })).body).toEqual([]);
  });

  it('refuses a taken name per (region, kind) with 409 NAME_TAKEN', async () => {
    const { s, c } = await sim();
    const u = (region: string) => `${s.url}/regions/${region}/users`;
    const first = await c.request({ method: 'POST', url: u('sim-1'), body: { name: 'nglass' } });
    expect(first.status).toBe(201);
    const taken = await c.request({
      method: 'POST',
      url: u('sim-1'),
      headers: { 'Idempotency-Key': 'other' },
      body: { name: 'nglass' },
    });
    expect(taken.status).toBe(409);
    expect(errCode(taken.body)).toBe('NAME_TAKEN');
    expect((taken.body as { error: { details: Obj } }).error.details['id']).toBe((first.body as Obj)['id']);
    expect((await c.request({ method: 'POST', url: u('sim-2'), body: { name: 'nglass' } })).status).toBe(201);
    expect(
      (await c.request({ method: 'POST', url: `${s.url}/regions/sim-1/buckets`, body: { name: 'nglass' } }))
        .status,
    ).toBe(201);
  });

  it('validates bodies with clear messages and never crashes on bad input', async () => {
    const { s, c } = await sim();
    const base = `${s.url}/regions/sim-1`;
    const cases: Array<[string, string, unknown, RegExp]> = [
      ['networks', 'bad cidr', { name: 'n', cidr: '10.0.0.0/33' }, /cidr: must be an IPv4 CIDR/],
      ['networks', 'octet', { name: 'n', cidr: '300.0.0.0/8' }, /cidr/],
      ['networks', 'extra', { name: 'n', cidr: '10.0.0.0/8', color: 'red' }, /Unrecognized key.*color/],
      ['networks', 'missing', { cidr: '10.0.0.0/8' }, /name:/],
      ['instances', 'shape', { name: 'i', network: 'net-x', shape: 'huge' }, /shape/],
      [
        'instances',
        'no network',
        { name: 'i', network: 'net-nope', shape: 'small' },
        /no network net-nope in region sim-1/,
      ],
      ['dns_records', 'A needs v4', { name: 'www', type: 'A', value: 'not-an-ip' }, /IPv4/],
      ['dns_records', 'type', { name: 'www', type: 'MX', value: 'x' }, /type/],
      ['load_balancers', 'backends', { name: 'lb', backends: 'i-1' }, /backends/],
      ['users', 'array body', [1, 2], /JSON object/],
    ];
    for (const [kind, label, body, re] of cases) {
      const r = await c.request({ method: 'POST', url: `${base}/${kind}`, body });
      expect(r.status, label).toBe(400);
      expect(errCode(r.body), label).toBe('VALIDATION');
      expect(errMsg(r.body), label).toMatch(re);
    }
    const badJson = await c.request({
      method: 'POST',
      url: `${base}/users`,
      headers: { 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(badJson.status).toBe(400);
    expect(errMsg(badJson.body)).toMatch(/not valid JSON/);
    expect((await c.request({ method: 'POST', url: `${base}/widgets`, body: {} })).status).toBe(404);
    expect((await c.request({ method: 'GET', url: `${s.url}/regions/Bad_Region/users` })).status).toBe(400);
    expect((await c.request({ method: 'GET', url: `${s.url}/_healthz` })).status).toBe(200);
  });

  it('creates instances in a network, deploys versions, reports health', async () => {
    const { s, c, plain } = await sim();
    const base = `${s.url}/regions/sim-1`;
    const net = (
      await c.request({ method: 'POST', url: `${base}/networks`, body: { name: 'n', cidr: '10.0.0.0/16' } })
    ).body as Obj;
    const vm = await c.request({
      method: 'POST',
      url: `${base}/instances`,
      body: { name: 'vm', network: net['id'], shape: 'small' },
    });
    expect(vm.status).toBe(201);
    const inst = vm.body as Obj;
    expect(inst).toMatchObject({
      kind: 'instance',
      network: net['id'],
      shape: 'small',
      deployed_version: null,
      health_url: `${s.url}/health/${String(inst['id'])}`,
    });
    const dep = await c.request({
      method: 'POST',
      url: `${base}/instances/${String(inst['id'])}/deploy`,
      body: { version: 'v1' },
    });
    expect(dep.status).toBe(200);
    expect(dep.body).toMatchObject({ deployed_version: 'v1' });
    const h = await plain.request({ method: 'GET', url: String(inst['health_url']) });
    expect(h).toMatchObject({ status: 200, body: { status: 'healthy', version: 'v1' } });
    expect(
      (
        await c.request({
          method: 'POST',
          url: `${base}/instances/${String(inst['id'])}/deploy`,
          body: { version: '' },
        })
      ).status,
    ).toBe(400);
    expect(
      (await c.request({ method: 'POST', url: `${base}/instances/i-nope/deploy`, body: { version: 'v2' } }))
        .status,
    ).toBe(404);
    expect((await plain.request({ method: 'GET', url: `${s.url}/health/i-nope` })).status).toBe(404);
  });

  it('moves PROVISIONING → AVAILABLE after provisionMs', async () => {
    const { s, c, plain } = await sim({ provisionMs: 300 });
    const base = `${s.url}/regions/sim-1`;
    const net = (
      await c.request({ method: 'POST', url: `${base}/networks`, body: { name: 'n', cidr: '10.0.0.0/16' } })
    ).body as Obj;
    expect(net['state']).toBe('PROVISIONING');
    const vm = (
      await c.request({
        method: 'POST',
        url: `${base}/instances`,
        body: { name: 'vm', network: net['id'], shape: 'large' },
      })
    ).body as Obj;
    expect((await plain.request({ method: 'GET', url: String(vm['health_url']) })).body).toMatchObject({
      status: 'provisioning',
    });
    await new Promise((r) => setTimeout(r, 350));
    expect(
      ((await c.request({ method: 'GET', url: `${base}/networks/${String(net['id'])}` })).body as Obj)[
        'state'
      ],
    ).toBe('AVAILABLE');
    expect((await plain.request({ method: 'GET', url: `${s.url}/_resources` })).body).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: vm['id'], state: 'AVAILABLE' })]),
    );
    expect((await plain.request({ method: 'GET', url: String(vm['health_url']) })).status).toBe(200);
  });
});

describe('signature verification', () => {
  it('refuses unsigned, wrongly signed, tampered, replayed and skewed requests with 401', async () => {
    const { s, c, plain } = await sim();
    const url = `${s.url}/regions/sim-1/users`;
    const unsigned = await plain.request({ method: 'POST', url, body: { name: 'u' } });
    expect(unsigned.status).toBe(401);
    expect(errCode(unsigned.body)).toBe('SIGNATURE_INVALID');
    expect((await plain.request({ method: 'GET', url })).status).toBe(401);

    const wrong = createSignedHttpClient({ accessKeyId: creds.accessKeyId, secretAccessKey: 'wrong' });
    cleanups.push(() => wrong.close());
    expect((await wrong.request({ method: 'GET', url })).status).toBe(401);
    const unknown = createSignedHttpClient({ accessKeyId: 'AKNOBODY', secretAccessKey: 'x' });
    cleanups.push(() => unknown.close());
    expect(errMsg((await unknown.request({ method: 'GET', url })).body)).toMatch(/unknown access key/);

    const body = JSON.stringify({ name: 'alice' });
    const headers = await signRequest(
      { method: 'POST', url, headers: { 'content-type': 'application/json', 'drover-fence': 't:1' }, body },
      creds,
    );
    const tamperedBody = await raw(url, 'POST', headers, JSON.stringify({ name: 'mallory' }));
    expect(tamperedBody.status).toBe(401);
    const tamperedFence = await raw(url, 'POST', { ...headers, 'drover-fence': 't:7' }, body);
    expect(tamperedFence.status).toBe(401);
    const tamperedPath = await raw(`${s.url}/regions/sim-2/users`, 'POST', headers, body);
    expect(tamperedPath.status).toBe(401);
    const ok = await raw(url, 'POST', headers, body);
    expect(ok.status).toBe(201);
    const replayed = await raw(url, 'POST', headers, body);
    expect(replayed.status).toBe(401);
    expect(errMsg(replayed.body)).toMatch(/replay/);

    const skewed = await signRequest({ method: 'GET', url, headers: {} }, creds, {
      now: new Date(Date.now() - 10 * 60_000),
    });
    const sk = await raw(url, 'GET', skewed);
    expect(sk.status).toBe(401);
    expect(errMsg(sk.body)).toMatch(/off the server clock/);
    expect((await c.request({ method: 'GET', url })).status).toBe(200);

    const users = (await plain.request({ method: 'GET', url: `${s.url}/_resources` })).body as Obj[];
    expect(users.map((u) => u['name'])).toEqual(['alice']);
  });
});

describe('fencing and the journal', () => {
  it('refuses a lower token with 409 STALE_FENCE and journals both calls', async () => {
    const { s, c, plain } = await sim();
    const url = `${s.url}/regions/sim-1/buckets`;
    const newer = await c.request({
      method: 'POST',
      url,
      headers: { 'Drover-Fence': 'task-9:2', 'Drover-Worker': 'w-b' },
      body: { name: 'b1' },
    });
    expect(newer.status).toBe(201);
    const older = await c.request({
      method: 'POST',
      url,
      headers: { 'Drover-Fence': 'task-9:1', 'Drover-Worker': 'w-a' },
      body: { name: 'b2' },
    });
    expect(older.status).toBe(409);
    expect(errCode(older.body)).toBe('STALE_FENCE');
    const same = await c.request({
      method: 'POST',
      url,
      headers: { 'Drover-Fence': 'task-9:2', 'Drover-Worker': 'w-b' },
      body: { name: 'b3' },
    });
    expect(same.status).toBe(201);
    // A different task has its own counter.
    expect(
      (
        await c.request({
          method: 'POST',
          url,
          headers: { 'Drover-Fence': 'task-10:1' },
          body: { name: 'b4' },
        })
      ).status,
    ).toBe(201);
    const malformed = await c.request({
      method: 'POST',
      url,
      headers: { 'Drover-Fence': 'no-token' },
      body: { name: 'b5' },
    });
    expect(malformed.status).toBe(400);
    // Reads are not fenced.
    expect((await c.request({ method: 'GET', url, headers: { 'Drover-Fence': 'task-9:0' } })).status).toBe(
      200,
    );

    const journal = (await plain.request({ method: 'GET', url: `${s.url}/_journal?task=task-9` }))
      .body as JournalEntry[];
    expect(journal.map((e) => [e.task, e.token, e.worker, e.operation, e.status])).toEqual([
      ['task-9', 2, 'w-b', 'create', 201],
      ['task-9', 1, 'w-a', 'create', 409],
      ['task-9', 2, 'w-b', 'create', 201],
    ]);
    const first = journal[0] as JournalEntry;
    expect(first.resource).toBe((newer.body as Obj)['id']);
    expect(first.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(first.at)).toBeGreaterThanOrEqual(Date.parse(first.started));
    expect(journal[1]?.code).toBe('STALE_FENCE');
    const all = (await plain.request({ method: 'GET', url: `${s.url}/_journal` })).body as JournalEntry[];
    expect(all).toHaveLength(5); // the GET is not journaled
    const since = (await plain.request({ method: 'GET', url: `${s.url}/_journal?since=${all[3]?.seq}` }))
      .body as JournalEntry[];
    expect(since.map((e) => e.status)).toEqual([400]);
  });

  it('journals refused calls too (unsigned, faulted) and resets', async () => {
    const { s, plain } = await sim();
    await plain.request({
      method: 'DELETE',
      url: `${s.url}/regions/sim-1/users/usr-1`,
      headers: { 'Drover-Fence': 't:3' },
    });
    const j = (await plain.request({ method: 'GET', url: `${s.url}/_journal` })).body as JournalEntry[];
    expect(j).toEqual([
      expect.objectContaining({
        task: 't',
        token: 3,
        operation: 'delete',
        resource: 'usr-1',
        kind: 'user',
        region: 'sim-1',
        status: 401,
        code: 'SIGNATURE_INVALID',
      }),
    ]);
    expect((await plain.request({ method: 'POST', url: `${s.url}/_reset` })).status).toBe(204);
    expect((await plain.request({ method: 'GET', url: `${s.url}/_journal` })).body).toEqual([]);
  });
});

describe('faults, latency and outages', () => {
  it('with errorRate 1 answers every resource call 500/503 and creates nothing', async () => {
    const { s, c, plain } = await sim({ errorRate: 1 });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const r = await c.request({
        method: 'POST',
        url: `${s.url}/regions/sim-1/users`,
        headers: { 'Idempotency-Key': `k${i}` },
        body: { name: `u${i}` },
      });
      expect(errCode(r.body)).toBe('SIM_FAULT');
      statuses.add(r.status);
    }
    expect([...statuses].sort()).toEqual([500, 503]);
    expect((await plain.request({ method: 'GET', url: `${s.url}/_resources` })).body).toEqual([]);
    expect(
      ((await plain.request({ method: 'GET', url: `${s.url}/_journal` })).body as unknown[]).length,
    ).toBe(20);
  });

  it('makes an instance, a version or a region unhealthy or unreachable, and clears them', async () => {
    const { s, c, plain } = await sim();
    const base = `${s.url}/regions/sim-1`;
    const net = (
      await c.request({ method: 'POST', url: `${base}/networks`, body: { name: 'n', cidr: '10.0.0.0/16' } })
    ).body as Obj;
    const vm = (
      await c.request({
        method: 'POST',
        url: `${base}/instances`,
        body: { name: 'vm', network: net['id'], shape: 'small' },
      })
    ).body as Obj;
    const health = String(vm['health_url']);
    await c.request({
      method: 'POST',
      url: `${base}/instances/${String(vm['id'])}/deploy`,
      body: { version: 'v2' },
    });
    const fault = (body: Obj) => plain.request({ method: 'POST', url: `${s.url}/_faults`, body });

    expect((await fault({ target: 'instance', id: vm['id'], mode: 'unhealthy' })).status).toBe(200);
    expect(await plain.request({ method: 'GET', url: health })).toMatchObject({
      status: 503,
      body: { status: 'unhealthy', version: 'v2' },
    });
    await fault({ target: 'instance', id: vm['id'], mode: 'healthy' });
    expect((await plain.request({ method: 'GET', url: health })).status).toBe(200);

    await fault({ target: 'version', version: 'v2', mode: 'unhealthy' });
    expect((await plain.request({ method: 'GET', url: health })).status).toBe(503);
    await c.request({
      method: 'POST',
      url: `${base}/instances/${String(vm['id'])}/deploy`,
      body: { version: 'v1' },
    });
    expect((await plain.request({ method: 'GET', url: health })).status).toBe(200); // rolled back
    expect((await plain.request({ method: 'GET', url: `${s.url}/_faults` })).body).toEqual([
      { target: 'version', version: 'v2', mode: 'unhealthy' },
    ]);
    expect((await plain.request({ method: 'DELETE', url: `${s.url}/_faults` })).status).toBe(204);

    await fault({ target: 'region', region: 'sim-1', mode: 'unreachable' });
    const down = await c.request({ method: 'GET', url: `${base}/networks` });
    expect(down.status).toBe(503);
    expect(errCode(down.body)).toBe('SIM_FAULT');
    expect((await c.request({ method: 'GET', url: `${s.url}/regions/sim-2/networks` })).status).toBe(200);
    const quick = createPlainHttpClient({ timeoutMs: 300 });
    cleanups.push(() => quick.close());
    await expect(quick.request({ method: 'GET', url: health })).rejects.toBeInstanceOf(TransientError);
    await fault({ target: 'region', region: 'sim-1', mode: 'healthy' });
    expect((await c.request({ method: 'GET', url: `${base}/networks` })).status).toBe(200);
    expect((await plain.request({ method: 'GET', url: health })).status).toBe(200);

    const bad = await fault({ target: 'planet', mode: 'unhealthy' });
    expect(bad.status).toBe(400);
    expect(errMsg(bad.body)).toMatch(/target/);
    expect((await fault({ target: 'instance', mode: 'unhealthy' })).status).toBe(400);
  });

  it('applies latency between arrival and answer, and outage windows', async () => {
    const { s, c, plain } = await sim({ latencyMs: 120, outages: [{ startS: 0, durationS: 0.6 }] });
    const url = `${s.url}/regions/sim-1/users`;
    const during = await c.request({ method: 'POST', url, body: { name: 'u' } });
    expect(during.status).toBe(503);
    expect(errMsg(during.body)).toMatch(/outage/);
    expect((await plain.request({ method: 'GET', url: `${s.url}/_healthz` })).status).toBe(200); // inspection stays up
    await new Promise((r) => setTimeout(r, 650));
    expect((await c.request({ method: 'POST', url, body: { name: 'u' } })).status).toBe(201);
    const j = (await plain.request({ method: 'GET', url: `${s.url}/_journal` })).body as JournalEntry[];
    for (const e of j) expect(Date.parse(e.at) - Date.parse(e.started)).toBeGreaterThanOrEqual(100);
  });
});
