/**
 * The worker daemon as a real process (with its proxy process and task processes) against the stand-in
 * scheduler: no credentials in a task's environment, the sandbox's network, reconciliation (kill what is
 * no longer assigned, pause / resume), and a stopped worker's task cut off by its proxy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { probeSandbox } from '../../src/worker/sandbox.ts';
import { sleep, startStubScheduler, startUpstream, tempDir, type StubScheduler } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SECRET = 'sim-secret-must-never-reach-a-task';
const ACCESS = 'AKWORKERTEST';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function until<T>(
  what: string,
  fn: () => T | undefined | null | false,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Starts `src/worker/main.ts` as its own process group (so cleanup can kill the worker, proxy and tasks). */
async function startWorker(
  sched: StubScheduler,
  opts: { sandbox: 'bwrap' | 'none'; name?: string },
): Promise<{ child: ChildProcess; workDir: string }> {
  const tmp = tempDir('drover-worker-test-');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'src/worker/main.ts'),
      '--server',
      sched.url,
      '--name',
      opts.name ?? 'wt',
      '--capacity',
      '2',
      '--sandbox',
      opts.sandbox,
      '--work-dir',
      tmp.dir,
      '--keep-staging',
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/',
        DROVER_TOKEN: sched.token,
        DROVER_SIM_ACCESS_KEY: ACCESS,
        DROVER_SIM_SECRET_KEY: SECRET,
      },
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    try {
      process.kill(-(child.pid as number), 'SIGCONT');
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      /* gone */
    }
    await exited;
    // Task processes are groups of their own: reap whatever a killed worker left (bwrap ones die with it).
    await sleep(300);
    tmp.remove();
  });
  await until('registration', () => sched.workerId !== null && sched.heartbeats.length > 0);
  return { child, workDir: tmp.dir };
}

describe('worker daemon', () => {
  it('runs a task with no credentials in its environment, and completes it through the proxy', async () => {
    const sched = await startStubScheduler({ ttlMs: 3_000, heartbeatMs: 300, marginMs: 500, graceMs: 2_000 });
    cleanups.push(() => sched.close());
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    const { workDir } = await startWorker(sched, { sandbox: 'none' });
    sched.tasks.set('task-env', {
      token: 7,
      kind: 'probe',
      spec: { via_proxy_url: `${upstream.url}/via` },
      control: 'run',
    });
    const done = await until('completion', () => sched.completions.find((c) => c.task === 'task-env'));
    expect(done.fence).toBe('task-env:7');
    expect((done.body as { status: string }).status).toBe('succeeded');

    const dumped = JSON.parse(
      readFileSync(path.join(workDir, 'tasks', 'task-env-7', 'outputs', 'probe.json'), 'utf8'),
    ) as { env: Record<string, string> };
    const env = dumped.env;
    expect(env['DROVER_TASK_ID']).toBe('task-env');
    expect(env['DROVER_PROXY']).toMatch(/proxy\.sock$/);
    for (const name of ['DROVER_SIM_SECRET_KEY', 'DROVER_SIM_ACCESS_KEY', 'DROVER_TOKEN', 'NODE_OPTIONS'])
      expect(env[name]).toBeUndefined();
    const everything = JSON.stringify(env);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(ACCESS);
    expect(everything).not.toContain(sched.token);
    // The call it made was signed by the proxy with the keys it never saw.
    const via = upstream.seen.find((s) => s.url === '/via')!;
    expect(via.headers.authorization).toContain(`Credential=${ACCESS}/`);
    expect(via.headers['drover-fence']).toBe('task-env:7');
  });

  it.skipIf(!probeSandbox().bwrap)(
    'in the bubblewrap sandbox a task cannot reach 127.0.0.1 directly, only through its proxy socket',
    async () => {
      const sched = await startStubScheduler({
        ttlMs: 3_000,
        heartbeatMs: 300,
        marginMs: 500,
        graceMs: 2_000,
      });
      cleanups.push(() => sched.close());
      const upstream = await startUpstream();
      cleanups.push(() => upstream.close());
      await startWorker(sched, { sandbox: 'bwrap' });
      sched.tasks.set('task-net', {
        token: 1,
        kind: 'probe',
        spec: { direct_url: upstream.url, via_proxy_url: `${upstream.url}/via` },
        control: 'run',
      });
      const done = await until('completion', () => sched.completions.find((c) => c.task === 'task-net'));
      const result = (
        done.body as { result: { direct: string; via_proxy: number; env: Record<string, string> } }
      ).result;
      expect(result.direct).toMatch(/^error:/);
      expect(result.via_proxy).toBe(200);
      expect(JSON.stringify(result.env)).not.toContain(SECRET);
      expect(upstream.seen.filter((s) => s.url === '/via')).toHaveLength(1);
    },
  );

  it('completes a noop task under its lease, through the fence, without starting a task process', async () => {
    const sched = await startStubScheduler({ ttlMs: 3_000, heartbeatMs: 300, marginMs: 500, graceMs: 2_000 });
    cleanups.push(() => sched.close());
    const { workDir } = await startWorker(sched, { sandbox: 'none' });
    const from = sched.heartbeats.length;
    sched.tasks.set('task-noop', { token: 7, kind: 'noop', spec: {}, control: 'run' });
    const done = await until('the completion', () => sched.completions.find((c) => c.task === 'task-noop'));
    expect(done.fence).toBe('task-noop:7');
    expect(done.body).toEqual({ status: 'succeeded', result: {} });
    // Taken up under the lease: a heartbeat named it before it was reported.
    const named = sched.heartbeats.slice(from).findIndex((h) => h.tasks.includes('task-noop'));
    expect(named).toBeGreaterThanOrEqual(0);
    // No task process: nothing staged (the worker keeps staging directories in this test), no events.
    expect(readdirSync(path.join(workDir, 'tasks'))).toEqual([]);
    expect(sched.events.filter((e) => e.task === 'task-noop')).toEqual([]);
    sched.tasks.delete('task-noop');
    await sleep(1_000);
    expect(sched.completions.filter((c) => c.task === 'task-noop')).toHaveLength(1);
  });

  it('reconciles: pauses and resumes a task, and kills it once it is no longer assigned', async () => {
    const sched = await startStubScheduler({ ttlMs: 3_000, heartbeatMs: 200, marginMs: 500, graceMs: 2_000 });
    cleanups.push(() => sched.close());
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    await startWorker(sched, { sandbox: 'none' });
    sched.tasks.set('task-long', {
      token: 2,
      kind: 'sim-calls',
      spec: { url: upstream.url, count: 400, delay_ms: 50 },
      control: 'run',
    });
    await until('calls', () => upstream.seen.length >= 5);
    expect(upstream.seen.every((s) => s.headers['drover-fence'] === 'task-long:2')).toBe(true);

    sched.tasks.get('task-long')!.control = 'pause';
    await sleep(800); // a heartbeat answer (200 ms) carries the pause
    const pausedAt = upstream.seen.length;
    await sleep(800);
    expect(upstream.seen.length - pausedAt).toBeLessThanOrEqual(1);

    sched.tasks.get('task-long')!.control = 'run';
    await until('resumed calls', () => upstream.seen.length >= pausedAt + 5);

    sched.tasks.delete('task-long');
    await sleep(1_000);
    const killedAt = upstream.seen.length;
    await sleep(800);
    expect(upstream.seen.length).toBe(killedAt);
    expect(sched.completions.find((c) => c.task === 'task-long')).toBeUndefined();
    // It is no longer among the tasks the worker names in its heartbeats.
    expect(sched.heartbeats.at(-1)!.tasks).toEqual([]);
  });

  it('a stopped worker (SIGSTOP) stops heartbeating, and its proxy cuts the task off within the lease', async () => {
    const ttl = 2_000;
    const sched = await startStubScheduler({ ttlMs: ttl, heartbeatMs: 200, marginMs: 400, graceMs: 1_500 });
    cleanups.push(() => sched.close());
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    const { child } = await startWorker(sched, { sandbox: 'none' });
    sched.tasks.set('task-cut', {
      token: 5,
      kind: 'sim-calls',
      spec: { url: upstream.url, count: 1000, delay_ms: 20 },
      control: 'run',
    });
    await until('calls', () => upstream.seen.length >= 5);
    // Stop the worker process only: its proxy and its task keep running.
    process.kill(child.pid as number, 'SIGSTOP');
    const stoppedAt = Date.now();
    await sleep(ttl + 1_000);
    const lastBeat = sched.heartbeats.filter((h) => h.at <= stoppedAt + 100).at(-1)!;
    const after = upstream.seen.filter((s) => (s.at ?? 0) > lastBeat.at + ttl);
    // Receipt of the last heartbeat + ttl is when the scheduler may call the lease gone: nothing after it.
    expect(after).toHaveLength(0);
    const lastCall = Math.max(...upstream.seen.map((s) => s.at ?? 0));
    expect(lastCall).toBeLessThanOrEqual(lastBeat.at + ttl);
    // The task itself learnt it: it failed with LEASE_EXPIRED and could not even report that.
    expect(sched.completions.find((c) => c.task === 'task-cut')).toBeUndefined();
    process.kill(child.pid as number, 'SIGCONT');
  });
});
