/**
 * The engine end to end against real components: a real simulator, real files, the real store (PGlite,
 * or PostgreSQL when DATABASE_URL is set).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadFlock } from '../../src/config/index.ts';
import {
  apply,
  comparePlans,
  isEmptyPlan,
  plan,
  renderPlan,
  type ApplyOptions,
} from '../../src/engine/index.ts';
import { DroverError } from '../../src/errors.ts';
import { defaultCatalog } from '../../src/providers/index.ts';
import type { LoadOptions, StateBackend } from '../../src/engine/index.ts';
import type { HttpClient } from '../../src/providers/types.ts';
import { DbStateBackend } from '../../src/store/index.ts';
import { openTestDb, type TestDb } from '../helpers/db.ts';
import { startTestSim, type TestSim } from '../helpers/sim.ts';

let sim: TestSim;
let tdb: TestDb;
let dir: string;
const catalog = defaultCatalog();

beforeAll(async () => {
  sim = await startTestSim();
});
afterAll(async () => {
  await sim.close();
});
beforeEach(async () => {
  tdb = await openTestDb();
  dir = mkdtempSync(join(tmpdir(), 'drover-engine-'));
});
afterEach(async () => {
  await tdb.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function write(yaml: string): void {
  writeFileSync(join(dir, 'flock.yaml'), yaml);
}

function opts(extra: Partial<ApplyOptions> = {}): ApplyOptions {
  return {
    catalog,
    state: new DbStateBackend(tdb.db),
    http: sim.http,
    env: { DROVER_SIM_URL: sim.url },
    retry: { attempts: 5, baseMs: 5, maxMs: 20 },
    ...extra,
  };
}

const header = (region = 'e-1') => `flock: eng
artifacts:
  app: { kind: file }
targets:
  - { name: t1, region: ${region}, approval: auto }
providers:
  sim: { endpoint: "\${env.DROVER_SIM_URL}" }
`;

describe('refresh → plan → apply', () => {
  it('creates in dependency order, then plans nothing; the simulator holds what state records', async () => {
    write(`${header()}resources:
  net: { type: sim.network, properties: { name: n1, cidr: 10.1.0.0/16 } }
  vm: { type: sim.instance, properties: { name: vm1, network: "\${net.id}", shape: small } }
  f: { type: local.file, properties: { path: out.txt, content: "vm=\${vm.id} v=\${artifacts.app.version}" } }
`);
    const config = await loadFlock(dir, catalog);
    const p = await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    expect(p.operations.map((o) => [o.address, o.action])).toEqual([
      ['net', 'create'],
      ['vm', 'create'],
      ['f', 'create'],
    ]);
    expect(p.operations[1]!.changes.find((c) => c.path === 'network')!.after).toBe('(known after apply)');
    expect(renderPlan(p)).toContain('+ net (sim.network) create');

    const r = await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    expect(r.ok).toBe(true);
    expect(r.serial).toBe(3);
    const state = await new DbStateBackend(tdb.db).load('eng', 't1');
    const vmId = state.resources.get('vm')!.id;
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe(`vm=${vmId} v=v1`);
    const inventory = (await sim.resources()).filter((x) => x.region === 'e-1');
    expect(inventory.map((x) => x.id).sort()).toEqual([state.resources.get('net')!.id, vmId].sort());

    const again = await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    expect(again.operations.every((o) => o.action === 'no-op')).toBe(true);
  });

  it('updates in place, replaces on a forcing change, deletes what left the config, and destroys', async () => {
    write(`${header('e-2')}resources:
  net: { type: sim.network, properties: { name: n2, cidr: 10.2.0.0/16 } }
  vm: { type: sim.instance, properties: { name: vm2, network: "\${net.id}", shape: small } }
  b: { type: sim.bucket, properties: { name: b2 } }
`);
    let config = await loadFlock(dir, catalog);
    expect((await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts())).ok).toBe(true);

    write(`${header('e-2')}resources:
  net: { type: sim.network, properties: { name: n2, cidr: 10.3.0.0/16 } }
  vm: { type: sim.instance, properties: { name: vm2, network: "\${net.id}", shape: large } }
`);
    config = await loadFlock(dir, catalog);
    const p = await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    const actions = Object.fromEntries(p.operations.map((o) => [o.address, o.action]));
    expect(actions).toEqual({ net: 'replace', vm: 'replace', b: 'delete' });
    const r = await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    expect(r.ok, JSON.stringify(r.results)).toBe(true);
    const inv = (await sim.resources()).filter((x) => x.region === 'e-2');
    expect(inv.map((x) => x.name).sort()).toEqual(['n2', 'vm2']);
    expect((await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts())).summary['no-op']).toBe(2);

    const d = await apply(config, { target: 't1', artifacts: {}, destroy: true }, opts());
    expect(d.ok).toBe(true);
    expect(d.plan.operations.map((o) => o.address)).toEqual(['vm', 'net']);
    expect((await sim.resources()).filter((x) => x.region === 'e-2')).toEqual([]);
  });

  it('reruns deployment tasks on a new release and retries failed ones only in a new execution', async () => {
    const marker = join(dir, 'runs.log');
    write(`${header('e-3')}resources:
  t: { type: drover.test, properties: { command: sh, args: ["-c", "echo run >> ${marker}; test -f ${join(dir, 'fail')} && exit 3 || exit 0"] } }
`);
    const config = await loadFlock(dir, catalog);
    const runs = () => readFileSync(marker, 'utf8').trim().split('\n').length;
    expect((await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts())).ok).toBe(true);
    expect(runs()).toBe(1);
    // Same inputs: the same release (local mode derives it), and it succeeded: no rerun.
    expect(
      (await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts())).plan.summary['no-op'],
    ).toBe(1);
    expect(runs()).toBe(1);
    // A new artifact version is a new release: runs again.
    writeFileSync(join(dir, 'fail'), '');
    const failed = await apply(config, { target: 't1', artifacts: { app: 'v2' } }, opts());
    expect(failed.ok).toBe(false);
    expect(failed.plan.operations[0]!.reason).toBe('new release');
    expect(runs()).toBe(2);
    const st = await new DbStateBackend(tdb.db).load('eng', 't1');
    expect(st.resources.get('t')!.status).toBe('FAILED');
    // Same release, same execution id: a FAILED task does not rerun.
    const sameExec = await plan(
      config,
      { target: 't1', artifacts: { app: 'v2' }, executionId: st.resources.get('t')!.executionId! },
      opts(),
    );
    expect(sameExec.operations[0]!.action).toBe('no-op');
    // Same release, new execution: retried.
    rmSync(join(dir, 'fail'));
    const retried = await apply(config, { target: 't1', artifacts: { app: 'v2' } }, opts());
    expect(retried.ok).toBe(true);
    expect(retried.plan.operations[0]!.reason).toBe('retry of failed execution');
    expect(runs()).toBe(3);
  });

  it('force_on_release re-applies an infrastructure resource on every new release', async () => {
    write(`${header('e-4')}resources:
  f: { type: local.file, force_on_release: true, properties: { path: f.txt, content: fixed } }
  g: { type: local.file, properties: { path: g.txt, content: fixed } }
`);
    const config = await loadFlock(dir, catalog);
    await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    const p = await plan(config, { target: 't1', artifacts: { app: 'v2' } }, opts());
    expect(Object.fromEntries(p.operations.map((o) => [o.address, [o.action, o.reason]]))).toEqual({
      f: [expect.stringMatching(/update|replace/), 'force_on_release'],
      g: ['no-op', undefined],
    });
  });

  it('a plan resolves references to attributes only the provider answers, and sees what is gone', async () => {
    // A plan keeps the providers' answers only of resources others depend on (refresh, planOnly): lb
    // refers to attributes of net that state does not hold for a plan (region, state), and solo, which
    // nothing depends on, must still be seen gone.
    write(`${header('e-9')}resources:
  net: { type: sim.network, properties: { name: n9, cidr: 10.9.0.0/16 } }
  lb: { type: sim.load_balancer, properties: { name: lb9, backends: ["\${net.region}", "\${net.state}"] } }
  solo: { type: sim.bucket, properties: { name: solo9 } }
`);
    const config = await loadFlock(dir, catalog);
    const inputs = { target: 't1', artifacts: { app: 'v1' } };
    const r = await apply(config, inputs, opts());
    expect(r.ok, JSON.stringify(r.results)).toBe(true);
    const again = await plan(config, inputs, opts());
    expect(again.operations.map((o) => [o.address, o.action])).toEqual([
      ['net', 'no-op'],
      ['lb', 'no-op'],
      ['solo', 'no-op'],
    ]);
    const lb = (await sim.resources()).find((x) => x.name === 'lb9')!;
    const got = await sim.http.request({
      method: 'GET',
      url: `${sim.url}/regions/e-9/load_balancers/${lb.id}`,
    });
    expect((got.body as { backends: string[] }).backends).toEqual(['e-9', 'AVAILABLE']);

    const solo = (await sim.resources()).find((x) => x.name === 'solo9')!;
    const del = await sim.http.request({
      method: 'DELETE',
      url: `${sim.url}/regions/e-9/buckets/${solo.id}`,
    });
    expect(del.status).toBeLessThan(300);
    const gone = await plan(config, inputs, opts());
    expect(gone.operations.map((o) => [o.address, o.action, o.reason])).toEqual([
      ['net', 'no-op', undefined],
      ['lb', 'no-op', undefined],
      ['solo', 'create', 'gone from the provider'],
    ]);
  });

  it('refuses a stale saved plan and a diverged approved plan', async () => {
    write(`${header('e-5')}resources:
  a: { type: local.file, properties: { path: a.txt, content: one } }
`);
    let config = await loadFlock(dir, catalog);
    const saved = await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    await expect(
      apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts({ savedPlan: saved })),
    ).rejects.toMatchObject({
      code: 'PLAN_STALE',
    });

    const approved = await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    write(`${header('e-5')}resources:
  a: { type: local.file, properties: { path: a.txt, content: one } }
  extra: { type: local.file, properties: { path: extra.txt, content: sneaky } }
`);
    config = await loadFlock(dir, catalog);
    const err = await apply(
      config,
      { target: 't1', artifacts: { app: 'v1' } },
      opts({ approvedPlan: approved }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DroverError);
    expect((err as DroverError).code).toBe('PLAN_DIVERGED');
    expect((err as DroverError).message).toContain('create extra');
    expect(existsSync(join(dir, 'extra.txt'))).toBe(false);
    expect(() => comparePlans(approved, approved)).not.toThrow();
  });

  it('a saved plan that is current applies', async () => {
    write(`${header('e-6')}resources:
  a: { type: local.file, properties: { path: a.txt, content: one } }
`);
    const config = await loadFlock(dir, catalog);
    const saved = JSON.parse(
      JSON.stringify(await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts())),
    );
    const r = await apply(config, { target: 't1', artifacts: {} }, opts({ savedPlan: saved }));
    expect(r.ok).toBe(true);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('one');
  });

  it('adopts what an interrupted create made (intent with idempotency key) and leaves no orphan', async () => {
    write(`${header('e-7')}resources:
  u: { type: sim.user, properties: { name: nglass } }
`);
    const config = await loadFlock(dir, catalog);
    const state = new DbStateBackend(tdb.db);
    // What a crash after the create call and before the commit leaves behind: an intent, and the user.
    await state.putIntent('eng', 't1', {
      address: 'u',
      type: 'sim.user',
      idempotencyKey: 'key-1',
      properties: { name: 'nglass' },
      dependencies: [],
      createdAt: new Date().toISOString(),
    });
    const created = await sim.http.request({
      method: 'POST',
      url: `${sim.url}/regions/e-7/users`,
      headers: { 'idempotency-key': 'key-1' },
      body: { name: 'nglass' },
    });
    expect(created.status).toBe(201);
    const p = await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    expect(p.operations[0]!.action).toBe('no-op');
    const st = await state.load('eng', 't1');
    expect(st.intents.size).toBe(0);
    expect(st.resources.get('u')!.id).toBe((created.body as { id: string }).id);
    expect((await sim.resources()).filter((x) => x.region === 'e-7')).toHaveLength(1);
  });

  it('retries transient errors and converges under injected faults', async () => {
    const flaky = await startTestSim({ errorRate: 0.3, seed: 42 });
    try {
      write(`${header('e-8')}resources:
${Array.from({ length: 20 }, (_, i) => `  b${i}: { type: sim.bucket, properties: { name: fb${i} } }`).join('\n')}
`);
      const config = await loadFlock(dir, catalog);
      const o = opts({
        http: flaky.http,
        env: { DROVER_SIM_URL: flaky.url },
        retry: { attempts: 12, baseMs: 1, maxMs: 5 },
      });
      const r = await apply(config, { target: 't1', artifacts: { app: 'v1' } }, o);
      expect(r.ok, JSON.stringify(r.results.filter((x) => !x.ok))).toBe(true);
      expect(r.results.some((x) => x.attempts > 1)).toBe(true);
      expect((await flaky.resources()).filter((x) => x.region === 'e-8')).toHaveLength(20);
    } finally {
      await flaky.close();
    }
  });

  /** A flock of n buckets (named prefix0…) in the given region, applied to t1; its loaded config. */
  const appliedBuckets = async (region: string, prefix: string, n: number) => {
    write(`${header(region)}resources:
${Array.from({ length: n }, (_, i) => `  b${i}: { type: sim.bucket, properties: { name: ${prefix}${i} } }`).join('\n')}
`);
    const config = await loadFlock(dir, catalog);
    expect((await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts())).ok).toBe(true);
    return config;
  };
  type OnResources = NonNullable<LoadOptions['onResources']>;
  /** The store's backend in pages of 10, with what its streamed load hands the engine passed through `via`. */
  const streamedThrough = (via: (handOver: OnResources) => OnResources): StateBackend => {
    const real = new DbStateBackend(tdb.db, { pageSize: 10 });
    return {
      load: (flock, target, o) =>
        real.load(flock, target, {
          ...o,
          ...(o?.onResources ? { onResources: via(o.onResources) } : {}),
        }),
      putIntent: (...a) => real.putIntent(...a),
      commit: (...a) => real.commit(...a),
      clearIntent: (...a) => real.clearIntent(...a),
    };
  };

  it('a state load that fails after its first resources leaves no read running behind the error', async () => {
    const config = await appliedBuckets('e-10', 'lb', 40);
    let inFlight = 0;
    let startedAfter = 0;
    let failed = false;
    const state = streamedThrough((handOver) => (batch, head) => {
      handOver(batch, head);
      throw new Error('the database went away');
    });
    const http: HttpClient = {
      request: async (req) => {
        if (failed) startedAfter++;
        inFlight++;
        try {
          await new Promise((r) => setTimeout(r, 5));
          return await sim.http.request(req);
        } finally {
          inFlight--;
        }
      },
    };
    await expect(
      plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts({ state, http, parallelism: 4 })),
    ).rejects.toThrow('the database went away');
    failed = true;
    expect(inFlight).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(startedAfter).toBe(0);
  });

  it('a backend that streams only part of its snapshot still has every resource read, each once', async () => {
    const config = await appliedBuckets('e-11', 'pb', 25);
    let pages = 0;
    // Hands over the first page only, then stops streaming (the snapshot still holds all 25).
    const state = streamedThrough((handOver) => (batch, head) => {
      if (pages++ === 0) handOver(batch, head);
    });
    const reads = new Map<string, number>();
    const http: HttpClient = {
      request: (req) => {
        if (req.method === 'GET') reads.set(req.url, (reads.get(req.url) ?? 0) + 1);
        return sim.http.request(req);
      },
    };
    const p = await plan(config, { target: 't1', artifacts: { app: 'v1' } }, opts({ state, http }));
    expect(pages).toBe(3);
    expect(isEmptyPlan(p)).toBe(true);
    expect(reads.size).toBe(25);
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
  });

  it('a failed operation skips its dependents and records nothing for them', async () => {
    write(`${header('e-9')}resources:
  bad: { type: drover.test, properties: { command: "false" } }
  after_bad: { type: local.file, depends_on: [bad], properties: { path: x.txt, content: x } }
  independent: { type: local.file, properties: { path: y.txt, content: y } }
`);
    const config = await loadFlock(dir, catalog);
    const r = await apply(config, { target: 't1', artifacts: { app: 'v1' } }, opts());
    expect(r.ok).toBe(false);
    const byAddr = Object.fromEntries(r.results.map((x) => [x.address, x]));
    expect(byAddr.bad!.ok).toBe(false);
    expect(byAddr.after_bad!.error).toMatch(/skipped/);
    expect(byAddr.independent!.ok).toBe(true);
    expect(existsSync(join(dir, 'x.txt'))).toBe(false);
  });

  it('names a missing artifact version and an unknown target', async () => {
    write(`${header()}resources: {}
`);
    const config = await loadFlock(dir, catalog);
    await expect(plan(config, { target: 't1', artifacts: {} }, opts())).rejects.toMatchObject({
      code: 'ARTIFACT_VERSION_MISSING',
    });
    await expect(plan(config, { target: 'nope', artifacts: { app: 'v' } }, opts())).rejects.toMatchObject({
      code: 'TARGET_UNKNOWN',
    });
  });
});
