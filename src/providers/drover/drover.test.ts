import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testContext } from '../testing.ts';
import { ProviderError } from '../types.ts';
import {
  droverAlarmWatch,
  droverApproval,
  droverTest,
  droverWait,
  parseDuration,
  tryParseDuration,
} from './index.ts';

const key = { idempotencyKey: 'k' };

describe('duration', () => {
  it('parses the documented forms and refuses others', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    for (const bad of ['', '30', 's', '5 s', '-1s', '1d', 'abc'])
      expect(tryParseDuration(bad)).toBeUndefined();
    expect(() => parseDuration('soon')).toThrow(ProviderError);
  });
});

describe('task records', () => {
  it('records status, release and execution ids, a fresh id per run; read answers prior; delete is a no-op', async () => {
    const ctx = testContext();
    const a = await droverWait.create(ctx, { duration: '1ms' }, key);
    const b = await droverWait.update!(ctx, a.id, { duration: '1ms' }, a);
    expect(a).toMatchObject({
      status: 'SUCCEEDED',
      release_id: ctx.releaseId,
      execution_id: ctx.executionId,
      duration: '1ms',
    });
    expect(typeof a.finished_at).toBe('string');
    expect(a.id).not.toBe(b.id);
    expect(droverWait.kind).toBe('task');
    expect(await droverWait.read(ctx, a.id, { duration: '1ms' }, a)).toEqual(a);
    await droverWait.delete(ctx, a.id, a);
    expect(await droverWait.lookup(ctx, { idempotencyKey: 'k', props: { duration: '1ms' } })).toBeNull();
    expect(droverWait.schema.safeParse({ duration: 'later' }).success).toBe(false);
  });
});

describe('drover.wait', () => {
  it('waits, and stops at once when cancelled', async () => {
    const t0 = Date.now();
    await droverWait.create(testContext(), { duration: '120ms' }, key);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t1 = Date.now();
    await expect(
      droverWait.create(testContext({ signal: ac.signal }), { duration: '1h' }, key),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - t1).toBeLessThan(2000);
  });
});

describe('drover.approval', () => {
  it('passes on yes and fails with APPROVAL_DENIED on no', async () => {
    const asked: string[] = [];
    const yes = testContext({ confirm: async (q) => (asked.push(q), true) });
    expect(await droverApproval.create(yes, { message: 'ship it?' }, key)).toMatchObject({
      approved: true,
      status: 'SUCCEEDED',
    });
    expect(asked).toEqual(['ship it?']);
    await expect(droverApproval.create(testContext(), {}, key)).rejects.toMatchObject({
      code: 'APPROVAL_DENIED',
    });
  });
});

describe('drover.test', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-test-task-'));
    await writeFile(join(dir, 'marker.txt'), 'present');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes on exit 0, in the flock dir, with env', async () => {
    const ctx = testContext({ flockDir: dir });
    const a = await droverTest.create(
      ctx,
      {
        command: process.execPath,
        args: [
          '-e',
          'const fs=require("fs");if(fs.readFileSync("marker.txt","utf8")!=="present"||process.env.WANT!=="yes")process.exit(3);console.log("ok")',
        ],
        env: { WANT: 'yes' },
      },
      key,
    );
    expect(a).toMatchObject({ exit_code: 0, status: 'SUCCEEDED' });
    expect(a.output_tail).toContain('ok');
  });

  it('fails with the tail of the output on non-zero exit', async () => {
    const p = droverTest.create(
      testContext({ flockDir: dir }),
      { command: process.execPath, args: ['-e', 'console.error("boom: assertion failed");process.exit(4)'] },
      key,
    );
    await expect(p).rejects.toMatchObject({ code: 'TEST_FAILED' });
    await expect(p).rejects.toThrow(/exited with 4[\s\S]*boom: assertion failed/);
  });

  it('does not use a shell unless asked', async () => {
    const ctx = testContext({ flockDir: dir });
    await expect(droverTest.create(ctx, { command: 'exit 0' }, key)).rejects.toMatchObject({
      code: 'TEST_SPAWN_FAILED',
    });
    await expect(
      droverTest.create(ctx, { command: 'test -f marker.txt && echo yes', shell: true }, key),
    ).resolves.toMatchObject({ exit_code: 0 });
  });

  it('kills the command (and its children) on timeout', async () => {
    const t0 = Date.now();
    const p = droverTest.create(
      testContext({ flockDir: dir }),
      { command: 'sleep 30 & sleep 30; echo never', shell: true, timeout: '300ms' },
      key,
    );
    await expect(p).rejects.toMatchObject({ code: 'TEST_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('drover.alarm_watch', () => {
  let server: Server;
  let base: string;
  let failAfter = Infinity;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
      const bad = req.url === '/flaky' && hits > failAfter;
      res.writeHead(bad ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(bad ? { status: 'unhealthy' } : { status: 'healthy' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('succeeds when every sample is healthy over the duration', async () => {
    hits = 0;
    failAfter = Infinity;
    const t0 = Date.now();
    const a = await droverAlarmWatch.create(
      testContext(),
      { url: `${base}/ok`, duration: '1s', interval: '50ms' },
      key,
    );
    // It watched for the whole duration, sampling more than once (how many depends on machine load).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(990);
    expect(a.samples).toBeGreaterThanOrEqual(2);
    expect(hits).toBeGreaterThanOrEqual(Number(a.samples));
  });

  it('fails at once on the first bad sample, naming it', async () => {
    hits = 0;
    failAfter = 2;
    const t0 = Date.now();
    const p = droverAlarmWatch.create(
      testContext(),
      { url: `${base}/flaky`, duration: '30s', interval: '20ms' },
      key,
    );
    await expect(p).rejects.toMatchObject({ code: 'ALARM' });
    await expect(p).rejects.toThrow(/answered 503 \(expected 200\).*sample 3.*unhealthy/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('fails on a connection error and on a sample timeout', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(
      droverAlarmWatch.create(testContext(), { url: `http://127.0.0.1:${port}/`, duration: '5s' }, key),
    ).rejects.toMatchObject({ code: 'ALARM' });
    await expect(
      droverAlarmWatch.create(testContext(), { url: `${base}/slow`, duration: '5s', timeout: '200ms' }, key),
    ).rejects.toThrow(/no answer within 200ms/);
  });

  it('honours expect_status', async () => {
    failAfter = 0;
    await expect(
      droverAlarmWatch.create(
        testContext(),
        { url: `${base}/flaky`, duration: '10ms', expect_status: 503 },
        key,
      ),
    ).resolves.toMatchObject({ status: 'SUCCEEDED' });
  });
});
