/**
 * The real `drover` CLI, spawned as a child process (`node bin/drover.js …`) against a region simulator
 * started in this test and a fresh store per test (PGlite copied from a migrated template, or a fresh
 * database on $DATABASE_URL). Checks exit codes (SPEC §8), error output (never a stack trace), the plan
 * JSON, and the plan/apply round trip.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSim, type SimHandle } from '../../src/sim/index.ts';
import { openTestDb, type TestDb } from '../helpers/db.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = join(ROOT, 'bin/drover.js');
const EXAMPLE = join(ROOT, 'examples/hello');
const ACCESS = 'AKCLITEST';
const SECRET = 'cli-test-secret-0123456789';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let sim: SimHandle;
let work: string;
let cleanups: (() => Promise<void> | void)[] = [];

/** Runs the CLI; stdin is a pipe, so the child never has a terminal (like CI). */
function drover(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...baseEnv(), ...env }))
      if (v !== undefined) childEnv[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function baseEnv(): Record<string, string | undefined> {
  return {
    DROVER_SIM_URL: sim.url,
    DROVER_SIM_ACCESS_KEY: ACCESS,
    DROVER_SIM_SECRET_KEY: SECRET,
    NO_COLOR: '1',
    DROVER_DEBUG: undefined,
    // Each test says which store it uses (flags below); an inherited URL must not override that.
    DATABASE_URL: undefined,
  };
}

/** A private copy of examples/hello (its local.file writes land in the copy's out/). */
function flockCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'drover-cli-flock-'));
  cpSync(EXAMPLE, dir, { recursive: true, filter: (src) => !src.includes(`${EXAMPLE}/out`) });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh store for the child: flags to pass. PGlite's handle is closed (one process per directory). */
async function freshStore(keepOpen = false): Promise<{ flags: string[]; db: TestDb }> {
  const t = await openTestDb();
  if (t.dataDir !== undefined) {
    const dataDir = t.dataDir;
    if (!keepOpen) await t.db.close();
    cleanups.push(async () => {
      if (keepOpen) await t.db.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    return { flags: ['--data-dir', dataDir], db: t };
  }
  cleanups.push(() => t.cleanup());
  return { flags: ['--database-url', t.url as string], db: t };
}

async function inventory(): Promise<{ kind: string; name: string; region: string }[]> {
  return (await (await fetch(`${sim.url}/_resources`)).json()) as {
    kind: string;
    name: string;
    region: string;
  }[];
}

function expectNoStack(r: Run): void {
  expect(r.stderr).not.toMatch(/\n\s+at .+[:(]/);
  expect(r.stdout).not.toMatch(/\n\s+at .+[:(]/);
}

beforeAll(async () => {
  sim = await startSim({ port: 0, keys: { [ACCESS]: SECRET } });
  work = mkdtempSync(join(tmpdir(), 'drover-cli-cwd-'));
});

afterAll(async () => {
  await sim?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

beforeEach(async () => {
  await fetch(`${sim.url}/_reset`, { method: 'POST' });
});

afterEach(async () => {
  const list = cleanups.reverse();
  cleanups = [];
  for (const c of list) await c();
});

describe('drover CLI: usage and config errors', () => {
  it('validate on a good flock exits 0', async () => {
    const r = await drover(['validate', flockCopy()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/flock 'hello' is valid/);
  });

  it('a config error exits 2 with file:line:col on stderr and no stack trace', async () => {
    const dir = flockCopy();
    const text = readFileSync(join(dir, 'flock.yaml'), 'utf8')
      .replace('shape: small', 'shape: small, colour: blue') // unknown property of sim.instance
      .replace('"${vm.id}", artifact', '"${nope.id}", artifact'); // dangling reference
    writeFileSync(join(dir, 'flock.yaml'), text);
    const r = await drover(['validate', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error CONFIG_INVALID: /);
    const located = r.stderr.split('\n').filter((l) => /flock\.yaml:\d+:\d+: /.test(l));
    expect(located.length).toBeGreaterThanOrEqual(2); // both problems, in one pass
    expect(r.stderr).toMatch(/colour/);
    expect(r.stderr).toMatch(/nope/);
    expectNoStack(r);
  });

  it('plan on a broken flock also exits 2 before touching anything', async () => {
    const dir = flockCopy();
    writeFileSync(join(dir, 'flock.yaml'), 'flock: hello\nbogus_key: 1\n');
    const r = await drover([
      'plan',
      dir,
      '--target',
      'beta',
      '--artifact',
      'app=v1',
      '--data-dir',
      join(work, 'never'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/flock\.yaml:2:1: /);
    expect(existsSync(join(work, 'never'))).toBe(false);
    expectNoStack(r);
  });

  it('an unknown flag exits 2 (commander usage errors included)', async () => {
    const r = await drover(['plan', flockCopy(), '--target', 'beta', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error USAGE: unknown option '--no-such-flag'/);
    const bad = await drover(['apply', flockCopy(), '--target', 'beta', '--parallelism', 'zero']);
    expect(bad.code).toBe(2);
    const noCmd = await drover(['frobnicate']);
    expect(noCmd.code).toBe(2);
    expectNoStack(r);
  });

  it('--help and --version exit 0', async () => {
    const help = await drover(['plan', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--artifact <NAME=VERSION>/);
    const version = await drover(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a flock artifact without a version exits 2 (ARTIFACT_VERSION_MISSING)', async () => {
    const r = await drover(['plan', flockCopy(), '--target', 'beta', '--data-dir', join(work, 'never')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error ARTIFACT_VERSION_MISSING: .*--artifact app=VERSION/);
    expectNoStack(r);
  });

  it('an unknown target exits 2 (TARGET_UNKNOWN)', async () => {
    const r = await drover(['plan', flockCopy(), '--target', 'gamma', '--artifact', 'app=v1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error TARGET_UNKNOWN: .*beta, prod-east, prod-west/);
  });

  it('missing simulator keys exit 2 (CREDENTIALS_MISSING) saying how to set them', async () => {
    const r = await drover(['plan', flockCopy(), '--target', 'beta', '--artifact', 'app=v1'], {
      DROVER_SIM_ACCESS_KEY: undefined,
      DROVER_SIM_SECRET_KEY: undefined,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error CREDENTIALS_MISSING: .*DROVER_SIM_ACCESS_KEY/);
  });

  it('apply with no terminal and no --yes refuses (exit 2) and changes nothing', async () => {
    const { flags } = await freshStore();
    const r = await drover(['apply', flockCopy(), '--target', 'beta', '--artifact', 'app=v1', ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error USAGE: .*--yes/);
    expect(await inventory()).toEqual([]);
  });

  it('drover workers with no server reachable exits 1 (SERVER_UNREACHABLE)', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const r = await drover(['workers', '--server', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error SERVER_UNREACHABLE: /);
  });
});

describe('drover CLI: plan and apply against the simulator', () => {
  it('plan --json prints the plan (and --out saves the same plan)', async () => {
    const { flags } = await freshStore();
    const out = join(work, 'plan-shape.json');
    const r = await drover([
      'plan',
      flockCopy(),
      '--target',
      'beta',
      '--artifact',
      'app=v1',
      '--json',
      '--out',
      out,
      ...flags,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as {
      flock: string;
      target: string;
      release_id: string;
      operations: { address: string; type: string; action: string; changes: unknown[] }[];
    };
    expect(plan.flock).toBe('hello');
    expect(plan.target).toBe('beta');
    expect(plan.release_id).toMatch(/^[0-9a-f-]{36}$/);
    for (const op of plan.operations) {
      expect(Object.keys(op)).toEqual(expect.arrayContaining(['address', 'type', 'action', 'changes']));
      expect(op.action).toBe('create');
      expect(Array.isArray(op.changes)).toBe(true);
    }
    // bake is restricted to prod tenancies: not in beta.
    expect(plan.operations.map((o) => o.address).sort()).toEqual([
      'app_config',
      'config_dir',
      'deploy',
      'logs',
      'net',
      'vm',
    ]);
    expect(plan.operations.find((o) => o.address === 'vm')?.type).toBe('sim.instance');
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(plan);
    rmSync(out);
    // plan changes nothing
    expect(await inventory()).toEqual([]);
  });

  it('apply --yes creates everything; a second plan is empty; destroy removes it all', async () => {
    const { flags } = await freshStore();
    const dir = flockCopy();
    const applied = await drover([
      'apply',
      dir,
      '--target',
      'beta',
      '--artifact',
      'app=v1',
      '--yes',
      ...flags,
    ]);
    expect(applied.stderr).toMatch(/\[6\/6\] ok/); // plain progress lines with no terminal
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/Apply complete on target beta: 6 created/);
    const inv = await inventory();
    expect(inv.map((r) => `${r.region}/${r.kind}/${r.name}`).sort()).toEqual([
      'sim-1/bucket/hello-logs-beta',
      'sim-1/instance/hello-vm-beta',
      'sim-1/network/hello-beta',
    ]);
    expect(readFileSync(join(dir, 'out/beta/app.conf'), 'utf8')).toMatch(/version = v1/);

    const again = await drover(['plan', dir, '--target', 'beta', '--artifact', 'app=v1', '--json', ...flags]);
    expect(again.code).toBe(0);
    const plan = JSON.parse(again.stdout) as { operations: { action: string }[] };
    expect(plan.operations.length).toBe(6);
    expect(plan.operations.every((o) => o.action === 'no-op')).toBe(true);

    const gone = await drover(['destroy', dir, '--target', 'beta', '--yes', ...flags]);
    expect(gone.code).toBe(0);
    expect(gone.stdout).toMatch(/Destroy complete on target beta: .*6 deleted/);
    expect(await inventory()).toEqual([]);
    expect(existsSync(join(dir, 'out/beta/app.conf'))).toBe(false);
  });

  it('apply --plan applies a saved plan once; the same plan again is stale (exit 3)', async () => {
    const { flags } = await freshStore();
    const dir = flockCopy();
    const saved = join(work, 'saved-plan.json');
    cleanups.push(() => rmSync(saved, { force: true }));
    const planned = await drover([
      'plan',
      dir,
      '--target',
      'beta',
      '--artifact',
      'app=v1',
      '--out',
      saved,
      ...flags,
    ]);
    expect(planned.code).toBe(0);

    // No --yes needed: a saved plan was reviewed already.
    const first = await drover(['apply', dir, '--plan', saved, ...flags]);
    expect(first.stderr).not.toMatch(/^error/m);
    expect(first.code).toBe(0);
    expect((await inventory()).length).toBe(3);

    const stale = await drover(['apply', dir, '--plan', saved, ...flags]);
    expect(stale.code).toBe(3);
    expect(stale.stderr).toMatch(/^error PLAN_STALE: /);
    expectNoStack(stale);
  });

  it('a plan file that is not a plan exits 2 (PLAN_FILE_INVALID)', async () => {
    const bogus = join(work, 'bogus-plan.json');
    writeFileSync(bogus, '{"hello": 1}');
    cleanups.push(() => rmSync(bogus, { force: true }));
    const r = await drover(['apply', flockCopy(), '--plan', bogus]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error PLAN_FILE_INVALID: /);
  });

  it('a data directory held by another process exits 3 (STATE_LOCKED)', async (ctx) => {
    if (process.env['DATABASE_URL']) ctx.skip(); // the lock is PGlite's: a PostgreSQL server has none
    const { flags } = await freshStore(true); // this test process holds it open
    const r = await drover(['plan', flockCopy(), '--target', 'beta', '--artifact', 'app=v1', ...flags]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error STATE_LOCKED: .*in use by process \d+/);
    expectNoStack(r);
  });

  it('a target whose state another process holds exits 3 (STATE_LOCKED), on either store', async () => {
    const { flags, db } = await freshStore();
    if (db.dataDir !== undefined) {
      // PGlite: the data directory's lock is the target lock too (the test above); here, the same
      // process asking twice is refused.
      const { openStore } = await import('../../src/store/index.ts');
      const store = await openStore({ dataDir: db.dataDir });
      try {
        const held = await store.lock('state:hello/beta');
        await expect(store.lock('state:hello/beta')).rejects.toMatchObject({ code: 'STATE_LOCKED' });
        await held.release();
        await (await store.lock('state:hello/beta')).release();
      } finally {
        await store.close();
      }
      return;
    }
    // PostgreSQL: another connection holds the target's lock, as a second `drover apply` would.
    const held = await db.db.lock('state:hello/beta');
    try {
      const r = await drover(['plan', flockCopy(), '--target', 'beta', '--artifact', 'app=v1', ...flags]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^error STATE_LOCKED: state:hello\/beta is in use by another process/);
      expectNoStack(r);
      // Another target of the same flock is free.
      const other = await drover([
        'plan',
        flockCopy(),
        '--target',
        'prod-east',
        '--artifact',
        'app=v1',
        ...flags,
      ]);
      expect(other.code, other.stderr).toBe(0);
    } finally {
      await held.release();
    }
    const after = await drover(['plan', flockCopy(), '--target', 'beta', '--artifact', 'app=v1', ...flags]);
    expect(after.code, after.stderr).toBe(0);
  });
});

describe('drover CLI: interrupting an apply', () => {
  let slow: SimHandle;
  beforeAll(async () => {
    // Slow enough that Ctrl-C lands while operations are still to start.
    slow = await startSim({ port: 0, keys: { [ACCESS]: SECRET }, latencyMs: 700 });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('SIGINT stops the apply (exit 1) keeping what finished; apply again completes without duplicates', async () => {
    const { flags } = await freshStore();
    const dir = flockCopy();
    const args = ['apply', dir, '--target', 'beta', '--artifact', 'app=v1', '--yes', ...flags];
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...baseEnv(), DROVER_SIM_URL: slow.url }))
      if (v !== undefined) childEnv[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end();
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const firstDone = new Promise<void>((res) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (/\[1\/6\] ok/.test(stderr)) res();
      });
    });
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    await Promise.race([firstDone, exited]);
    child.kill('SIGINT');
    const code = await exited;
    expect(stderr).toMatch(/interrupted: starting nothing new/);
    expect(stderr).toMatch(/\[1\/6\] ok/);
    expect(code).toBe(1);
    expect(stderr).toMatch(/error APPLY_FAILED: /);
    expect(stderr).toMatch(/interrupted by the user|not started: cancelled/);
    expect(stdout).toMatch(/Apply failed on target beta/);

    const again = await drover(args, { DROVER_SIM_URL: slow.url });
    expect(again.code, again.stderr).toBe(0);
    const inv = (await (await fetch(`${slow.url}/_resources`)).json()) as { name: string }[];
    expect(inv.map((r) => r.name).sort()).toEqual(['hello-beta', 'hello-logs-beta', 'hello-vm-beta']);
  });
});
