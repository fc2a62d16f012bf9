/**
 * The CLI through a server (`--server URL`): a real server (in this process, on a fresh store), a real
 * `drover worker` process with its signing proxy, and the region simulator; the CLI is spawned as a child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { startSim, type SimHandle } from '../../src/sim/index.ts';
import { openTestDb, type TestDb } from '../helpers/db.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = join(ROOT, 'bin/drover.js');
const ACCESS = 'AKCLIREMOTE';
const SECRET = 'cli-remote-secret-0123456789';

// No local.* resources: under a worker they live in the task's own staging directory.
const FLOCK = `
flock: remote
artifacts:
  app: { kind: file }
targets:
  - { name: beta, tenancy: beta, region: sim-r1, approval: auto }
providers:
  sim: { endpoint: "\${env.DROVER_SIM_URL}" }
resources:
  net: { type: sim.network, properties: { cidr: 10.1.0.0/16, name: "remote-\${target.name}" } }
  vm: { type: sim.instance, properties: { name: "remote-vm-\${target.name}", network: "\${net.id}", shape: small } }
  deploy: { type: drover.deployment, properties: { instance: "\${vm.id}", artifact: "\${artifacts.app.version}" } }
`;

let sim: SimHandle;
let store: TestDb;
let server: RunningServer;
let worker: ChildProcess | undefined;
let work: string;
let flockDir: string;
let token: string;
/** The worker's last log lines, shown when a remote run fails. */
let workerLog = '';

function simEnv(): Record<string, string> {
  return { DROVER_SIM_URL: sim.url, DROVER_SIM_ACCESS_KEY: ACCESS, DROVER_SIM_SECRET_KEY: SECRET };
}

function drover(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const env: Record<string, string> = { NO_COLOR: '1' };
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && k !== 'DATABASE_URL' && k !== 'DROVER_TOKEN') env[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: { ...env, ...simEnv() },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 80_000);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'drover-cli-remote-'));
  flockDir = join(work, 'flock');
  rmSync(flockDir, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(flockDir));
  writeFileSync(join(flockDir, 'flock.yaml'), FLOCK);
  sim = await startSim({ port: 0, keys: { [ACCESS]: SECRET } });
  store = await openTestDb();
  server = await startServer({ port: 0, dataDir: join(work, 'server'), db: store.db, log: false });
  token = server.adminToken;
  const workerToken = await server.mintToken('worker', 'cli-w1');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  worker = spawn(
    process.execPath,
    [BIN, 'worker', '--server', server.url, '--name', 'cli-w1', '--work-dir', join(work, 'worker')],
    {
      env: { ...env, ...simEnv(), DROVER_TOKEN: workerToken },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  worker.stderr?.setEncoding('utf8').on('data', (d: string) => (workerLog = (workerLog + d).slice(-20_000)));
  // Wait until the worker has registered.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await fetch(`${server.url}/api/v1/workers`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await r.json()) as
      { workers?: { name: string; status: string }[] } | { name: string; status: string }[];
    const list = Array.isArray(body) ? body : (body.workers ?? []);
    if (list.some((w) => w.name === 'cli-w1' && w.status === 'healthy')) break;
    if (Date.now() > deadline) throw new Error('the worker did not register within 60 s');
    await new Promise((r2) => setTimeout(r2, 300));
  }
}, 120_000);

afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    const exited = new Promise((r) => worker?.once('exit', r));
    worker.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
  }
  await server?.close();
  await store?.cleanup();
  await sim?.close();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('drover CLI with --server', () => {
  it('drover workers lists the fleet (table and --json)', async () => {
    const json = await drover(['workers', '--json', '--server', server.url, '--token', token]);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as Record<string, unknown>[];
    const w = list.find((x) => x['name'] === 'cli-w1');
    expect(w).toBeDefined();
    expect(Object.keys(w ?? {})).toEqual(
      expect.arrayContaining([
        'name',
        'host',
        'pid',
        'proxy_pid',
        'status',
        'capacity',
        'tasks',
        'lease_expires_at',
      ]),
    );
    expect(w?.['status']).toBe('healthy');
    const table = await drover(['workers', '--server', server.url, '--token', token]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+STATUS/);
    expect(table.stdout).toMatch(/cli-w1\s+healthy/);
  });

  it('a bad token is the server error code with its exit code', async () => {
    const r = await drover([
      'plan',
      flockDir,
      '--target',
      'beta',
      '--artifact',
      'app=v1',
      '--server',
      server.url,
      '--token',
      'nope',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error UNAUTHORIZED: /m);
  });

  it('apply --yes runs as tasks on the worker; a second plan is empty', async () => {
    const applied = await drover([
      'apply',
      flockDir,
      '--target',
      'beta',
      '--artifact',
      'app=v1',
      '--yes',
      '--server',
      server.url,
      '--token',
      token,
    ]);
    expect(applied.code, `${applied.stderr}\n--- worker log ---\n${workerLog.slice(-4000)}`).toBe(0);
    expect(applied.stdout).toMatch(/Apply complete on target beta: 3 created/);
    expect(applied.stderr).toMatch(/ok {3}create vm/); // the task's log lines, followed
    const inv = (await (await fetch(`${sim.url}/_resources`)).json()) as { name: string }[];
    expect(inv.map((r) => r.name).sort()).toEqual(['remote-beta', 'remote-vm-beta']);

    const again = await drover([
      'plan',
      flockDir,
      '--target',
      'beta',
      '--artifact',
      'app=v1',
      '--json',
      '--server',
      server.url,
      '--token',
      token,
    ]);
    expect(again.code, `${again.stderr}\n--- worker log ---\n${workerLog.slice(-4000)}`).toBe(0);
    const plan = JSON.parse(again.stdout) as { operations: { action: string }[] };
    expect(plan.operations.map((o) => o.action)).toEqual(['no-op', 'no-op', 'no-op']);
  }, 200_000);
});
