/**
 * The signing proxy with real sockets: a stand-in scheduler (signed acks), a recording upstream, the proxy
 * in-process (so a clock can be injected) and once as its own process.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { SigningProxy } from '../../src/proxy/proxy-server.ts';
import { ReplayCache, verifyRequest } from '../../src/signing/index.ts';
import { controlRequest, startProxyProcess } from '../../src/worker/proxy-process.ts';
import type { ClockReading } from '../../src/proxy/lease-check.ts';
import {
  rawRequest,
  sleep,
  startStubScheduler,
  startUpstream,
  tempDir,
  type StubScheduler,
} from './helpers.ts';

const CREDS = { accessKeyId: 'AKTEST', secretAccessKey: 'secret-never-seen-by-tasks' };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

interface Rig {
  sched: StubScheduler;
  upstream: Awaited<ReturnType<typeof startUpstream>>;
  proxy: SigningProxy;
  workerId: string;
  heartbeat(tasks?: string[]): Promise<{ status: number; body: Record<string, unknown> }>;
  open(
    task: string,
    token: number,
    transport?: 'unix' | 'tcp',
  ): Promise<{ socketPath: string } | { port: number }>;
}

async function rig(
  opts: { ttlMs?: number; graceMs?: number; marginMs?: number; clock?: () => ClockReading } = {},
): Promise<Rig> {
  const sched = await startStubScheduler({
    ttlMs: opts.ttlMs ?? 1_500,
    marginMs: opts.marginMs ?? 300,
    graceMs: opts.graceMs ?? 5_000,
  });
  cleanups.push(() => sched.close());
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const tmp = tempDir('drover-proxy-');
  cleanups.push(tmp.remove);
  const proxy = new SigningProxy({
    serverUrl: sched.url,
    token: sched.token,
    credentials: CREDS,
    dir: tmp.dir,
    tickMs: 50,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  await proxy.start();
  cleanups.push(() => proxy.close());
  const reg = await controlRequest(proxy.controlSocket, 'POST', '/api/v1/workers/register', {
    name: 'w1',
    host: 'h',
    pid: process.pid,
    capacity: 2,
  });
  expect(reg.status).toBe(201);
  const body = reg.body as Record<string, unknown>;
  // The ack key stays in the proxy; the server learnt the proxy's pid.
  expect(body['ack_key']).toBeUndefined();
  expect((body['got'] as Record<string, unknown>)['proxy_pid']).toBe(process.pid);
  const workerId = body['worker_id'] as string;
  let seq = 0;
  return {
    sched,
    upstream,
    proxy,
    workerId,
    async heartbeat(tasks = []) {
      seq += 1;
      const r = await controlRequest(proxy.controlSocket, 'POST', `/api/v1/workers/${workerId}/heartbeat`, {
        seq,
        tasks,
      });
      return { status: r.status, body: r.body as Record<string, unknown> };
    },
    async open(task, token, transport = 'unix') {
      const r = await controlRequest(proxy.controlSocket, 'POST', '/_proxy/tasks', {
        task_id: task,
        token,
        transport,
      });
      expect(r.status).toBe(201);
      const info = r.body as { socket?: string; port?: number };
      return info.socket ? { socketPath: info.socket } : { port: info.port as number };
    },
  };
}

function errorCode(body: string): string | undefined {
  return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
}

describe('signing proxy', () => {
  it('signs calls to services, adds the fence and the worker, and the bearer token for the server', async () => {
    const r = await rig();
    r.sched.tasks.set('t1', { token: 3, kind: 'noop', spec: {}, control: 'run' });
    const hb = await r.heartbeat(['t1']);
    expect((hb.body['proxy'] as { ack: string }).ack).toBe('accepted');
    const ep = await r.open('t1', 3);

    const body = JSON.stringify({ name: 'b1' });
    const res = await rawRequest(ep, {
      method: 'POST',
      path: '/',
      body,
      headers: {
        'drover-target-url': `${r.upstream.url}/regions/sim-1/buckets?x=1`,
        'idempotency-key': 'k1',
        authorization: 'Bearer stolen',
        'drover-fence': 't1:999',
      },
    });
    expect(res.status).toBe(200);
    const seen = r.upstream.seen.at(-1)!;
    expect(seen.url).toBe('/regions/sim-1/buckets?x=1');
    expect(seen.headers['drover-fence']).toBe('t1:3');
    expect(seen.headers['drover-worker']).toBe('w1');
    expect(seen.body).toBe(body);
    const verdict = await verifyRequest(
      { method: seen.method, path: seen.url, headers: seen.headers, body: seen.body },
      (k) => (k === CREDS.accessKeyId ? CREDS.secretAccessKey : undefined),
      {
        replay: new ReplayCache(),
      },
    );
    expect(verdict).toEqual({ ok: true, accessKeyId: 'AKTEST' });

    // Absolute-form proxy request (as HTTP_PROXY clients send), over a TCP endpoint.
    const tcp = await r.open('t1', 3, 'tcp');
    const abs = await rawRequest(tcp, { path: `${r.upstream.url}/regions/sim-1/networks/n1` });
    expect(abs.status).toBe(200);
    expect(r.upstream.seen.at(-1)!.url).toBe('/regions/sim-1/networks/n1');
    expect(r.upstream.seen.at(-1)!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);

    // The Drover server: bearer token, not SigV4; a relative path means the server.
    const spec = await rawRequest(ep, { path: '/api/v1/tasks/t1/spec' });
    expect(spec.status).toBe(200);
    const toServer = r.sched.requests.at(-1)!;
    expect(toServer.headers.authorization).toBe(`Bearer ${r.sched.token}`);
    expect(toServer.headers['drover-fence']).toBe('t1:3');
  });

  it('signs and sends a body byte for byte, whatever its content (not decoded as text)', async () => {
    const r = await rig();
    r.sched.tasks.set('t1', { token: 3, kind: 'noop', spec: {}, control: 'run' });
    await r.heartbeat(['t1']);
    const ep = await r.open('t1', 3);
    // Not valid UTF-8: decoding it as text would replace bytes and break the payload hash.
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0x41, 0x0a]);
    const res = await rawRequest(ep, {
      method: 'PUT',
      path: '/',
      body: bytes,
      headers: {
        'drover-target-url': `${r.upstream.url}/blobs/b1`,
        'content-type': 'application/octet-stream',
      },
    });
    expect(res.status).toBe(200);
    const seen = r.upstream.seen.at(-1)!;
    expect(seen.raw.equals(bytes)).toBe(true);
    expect(seen.headers['content-length']).toBe(String(bytes.length));
    expect(seen.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('refuses before any acknowledged heartbeat, for tasks the ack does not list, and for an older token', async () => {
    const r = await rig();
    r.sched.tasks.set('t1', { token: 4, kind: 'noop', spec: {}, control: 'run' });
    const ep1 = await r.open('t1', 4);
    const before = await rawRequest(ep1, {
      path: '/',
      headers: { 'drover-target-url': `${r.upstream.url}/a` },
    });
    expect(before.status).toBe(403);
    expect(errorCode(before.body)).toBe('LEASE_EXPIRED');

    await r.heartbeat(['t1']);
    const other = await r.open('t2', 1);
    const stale = await r.open('t1', 3);
    expect(
      errorCode(
        (await rawRequest(other, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/b` } }))
          .body,
      ),
    ).toBe('LEASE_EXPIRED');
    expect(
      errorCode(
        (await rawRequest(stale, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/c` } }))
          .body,
      ),
    ).toBe('LEASE_EXPIRED');
    expect(
      (await rawRequest(ep1, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/d` } })).status,
    ).toBe(200);
    expect(r.upstream.seen.map((s) => s.url)).toEqual(['/d']);
  });

  it('after expiry: 403, the slow call in flight is cut, and calls resume after a new ack', async () => {
    const r = await rig({ ttlMs: 1_500, marginMs: 300, graceMs: 5_000 });
    r.sched.tasks.set('t1', { token: 1, kind: 'noop', spec: {}, control: 'run' });
    await r.heartbeat(['t1']);
    const ep = await r.open('t1', 1);
    const started = performance.now();
    // Upstream would answer after 4 s; the lease (1.5 s − 0.3 s from the send) ends long before.
    const slow = await rawRequest(ep, {
      path: '/',
      headers: { 'drover-target-url': `${r.upstream.url}/slow?ms=4000` },
    });
    const took = performance.now() - started;
    expect(slow.status).toBe(403);
    expect(errorCode(slow.body)).toBe('LEASE_EXPIRED');
    expect(took).toBeLessThan(1_600);
    await sleep(50);
    const rec = r.upstream.seen.find((s) => s.url.startsWith('/slow'))!;
    expect(rec.aborted).toBe(true);
    expect(rec.answered).toBe(false);

    const refused = await rawRequest(ep, {
      path: '/',
      headers: { 'drover-target-url': `${r.upstream.url}/after` },
    });
    expect(refused.status).toBe(403);
    expect(r.upstream.seen.some((s) => s.url === '/after')).toBe(false);

    await r.heartbeat(['t1']);
    const again = await rawRequest(ep, {
      path: '/',
      headers: { 'drover-target-url': `${r.upstream.url}/again` },
    });
    expect(again.status).toBe(200);
  });

  it('keeps one upstream connection per task while leased; closing or expiry closes its sockets, idle ones too', async () => {
    const r = await rig({ ttlMs: 1_500, marginMs: 300, graceMs: 5_000 });
    // A service that records every connection the proxy opens, and when each is closed.
    const conns: { closed: boolean }[] = [];
    const svc = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    svc.on('connection', (s: Socket) => {
      const c = { closed: false };
      conns.push(c);
      s.on('close', () => (c.closed = true));
    });
    await new Promise<void>((resolve) => svc.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      svc.closeAllConnections();
      return new Promise<void>((resolve) => svc.close(() => resolve()));
    });
    const url = `http://127.0.0.1:${(svc.address() as AddressInfo).port}`;
    r.sched.tasks.set('t1', { token: 1, kind: 'noop', spec: {}, control: 'run' });
    r.sched.tasks.set('t2', { token: 1, kind: 'noop', spec: {}, control: 'run' });
    await r.heartbeat(['t1', 't2']);
    const ep1 = await r.open('t1', 1);
    const ep2 = await r.open('t2', 1);
    for (let i = 0; i < 3; i++) {
      const res = await rawRequest(ep1, { path: '/', headers: { 'drover-target-url': `${url}/a${i}` } });
      expect(res.status).toBe(200);
    }
    expect(conns).toHaveLength(1); // reused
    expect((await rawRequest(ep2, { path: '/', headers: { 'drover-target-url': `${url}/b` } })).status).toBe(
      200,
    );
    expect(conns).toHaveLength(2); // never shared between tasks
    await sleep(50);
    expect(conns.map((c) => c.closed)).toEqual([false, false]);

    // Closing t1's endpoint closes t1's idle socket, not t2's.
    const del = await controlRequest(r.proxy.controlSocket, 'DELETE', '/_proxy/tasks/t1?token=1');
    expect(del.status).toBe(200);
    await sleep(100);
    expect(conns.map((c) => c.closed)).toEqual([true, false]);

    // The lease ends (1.5 s − 0.3 s after the send): t2's idle socket is closed too, without any call.
    await sleep(1_400);
    expect(conns.map((c) => c.closed)).toEqual([true, true]);
    const refused = await rawRequest(ep2, { path: '/', headers: { 'drover-target-url': `${url}/c` } });
    expect(refused.status).toBe(403);
    expect(conns).toHaveLength(2);
  });

  it('control endpoint: no way around the gate (task routes need a leased fence; nothing but worker routes else)', async () => {
    const r = await rig();
    r.sched.tasks.set('t1', { token: 2, kind: 'noop', spec: {}, control: 'run' });
    const complete = (fence: string) =>
      controlRequest(
        r.proxy.controlSocket,
        'POST',
        '/api/v1/tasks/t1/complete',
        { status: 'failed' },
        { headers: { 'drover-fence': fence } },
      );
    expect((await complete('t1:2')).status).toBe(403);
    await r.heartbeat(['t1']);
    expect((await complete('t1:1')).status).toBe(403);
    expect((await complete('t2:2')).status).toBe(403);
    expect((await complete('t1:2')).status).toBe(200);
    expect(r.sched.completions).toHaveLength(1);
    const state = await controlRequest(
      r.proxy.controlSocket,
      'GET',
      '/api/v1/tasks/t1/state?flock=f&target=t',
    );
    expect(state.status).toBe(403);
    expect((state.body as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const poll = await controlRequest(
      r.proxy.controlSocket,
      'GET',
      `/api/v1/workers/${r.workerId}/poll?wait_ms=0`,
    );
    expect(poll.status).toBe(200);
  });

  it('ignores a forged ack (bad signature) and a failed heartbeat', async () => {
    const r = await rig();
    r.sched.tasks.set('t1', { token: 1, kind: 'noop', spec: {}, control: 'run' });
    const ep = await r.open('t1', 1);
    r.sched.heartbeatMode = 'forge';
    const hb = await r.heartbeat(['t1']);
    expect(hb.status).toBe(200);
    expect((hb.body['proxy'] as { ack: string }).ack).toBe('bad-signature');
    expect(
      (await rawRequest(ep, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/x` } })).status,
    ).toBe(403);
    r.sched.heartbeatMode = 'error';
    expect((await r.heartbeat(['t1'])).status).toBe(500);
    expect(
      (await rawRequest(ep, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/y` } })).status,
    ).toBe(403);
    r.sched.heartbeatMode = 'ok';
    await r.heartbeat(['t1']);
    expect(
      (await rawRequest(ep, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/z` } })).status,
    ).toBe(200);
    expect(r.upstream.seen.map((s) => s.url)).toEqual(['/z']);
  });

  it('fails closed when its wall and monotonic clocks disagree, until the next ack', async () => {
    let wallOffset = 0;
    const r = await rig({
      ttlMs: 10_000,
      marginMs: 1_000,
      clock: () => ({ mono: performance.now(), wall: Date.now() + wallOffset }),
    });
    r.sched.tasks.set('t1', { token: 1, kind: 'noop', spec: {}, control: 'run' });
    await r.heartbeat(['t1']);
    const ep = await r.open('t1', 1);
    expect(
      (await rawRequest(ep, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/1` } })).status,
    ).toBe(200);
    const slow = rawRequest(ep, {
      path: '/',
      headers: { 'drover-target-url': `${r.upstream.url}/slow?ms=4000` },
    });
    await sleep(200);
    // As after a suspend: the wall clock moved on 5 s that the monotonic clock did not see.
    wallOffset = 5_000;
    const cut = await slow;
    expect(cut.status).toBe(403);
    expect(JSON.parse(cut.body).error.details.reason).toBe('clock-jump');
    expect(
      (await rawRequest(ep, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/2` } })).status,
    ).toBe(403);
    await r.heartbeat(['t1']);
    expect(
      (await rawRequest(ep, { path: '/', headers: { 'drover-target-url': `${r.upstream.url}/3` } })).status,
    ).toBe(200);
    expect(r.upstream.seen.map((s) => s.url)).toEqual(['/1', '/slow?ms=4000', '/3']);
  });

  it('puts a hard timeout shorter than lease_grace on upstream calls', async () => {
    const r = await rig({ ttlMs: 5_000, marginMs: 300, graceMs: 1_000 });
    r.sched.tasks.set('t1', { token: 1, kind: 'noop', spec: {}, control: 'run' });
    await r.heartbeat(['t1']);
    const ep = await r.open('t1', 1);
    const started = performance.now();
    const res = await rawRequest(ep, {
      path: '/',
      headers: { 'drover-target-url': `${r.upstream.url}/slow?ms=3000` },
    });
    const took = performance.now() - started;
    expect(res.status).toBe(504);
    expect(errorCode(res.body)).toBe('UPSTREAM_UNREACHABLE');
    expect(res.headers['drover-proxy-error']).toBe('upstream-unreachable');
    expect(took).toBeLessThan(1_000);
  });

  it('runs as its own process: secrets on stdin only, exits and removes its sockets when the worker goes', async () => {
    const sched = await startStubScheduler();
    cleanups.push(() => sched.close());
    const tmp = tempDir('drover-proxyproc-');
    cleanups.push(tmp.remove);
    const proc = await startProxyProcess({
      server_url: sched.url,
      token: sched.token,
      credentials: CREDS,
      dir: tmp.dir,
    });
    cleanups.push(() => proc.stop(1_000));
    const reg = await controlRequest(proc.controlSocket, 'POST', '/api/v1/workers/register', {
      name: 'w9',
      host: os.hostname(),
      pid: process.pid,
    });
    expect(reg.status).toBe(201);
    expect((reg.body as Record<string, unknown>)['proxy_pid']).toBe(proc.pid);
    const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8');
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8');
    for (const secret of [sched.token, CREDS.secretAccessKey]) {
      expect(environ).not.toContain(secret);
      expect(cmdline).not.toContain(secret);
    }
    expect(existsSync(proc.controlSocket)).toBe(true);
    proc.child.stdin?.end();
    await new Promise<void>((resolve) =>
      proc.child.exitCode !== null ? resolve() : proc.child.once('exit', () => resolve()),
    );
    expect(proc.child.exitCode).toBe(0);
    expect(existsSync(proc.controlSocket)).toBe(false);
  });
});
