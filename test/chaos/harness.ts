/**
 * @module test/chaos/harness — the chaos suite's clusters and rounds (SPEC.md §5 "The guarantee").
 *
 * A cluster is one simulator, a server (in-process, or `drover server` child processes), and three
 * `drover worker` processes, each reaching the server through its own TcpRelay (so one worker's link can
 * be cut). A round applies a chain of slow `sim.bucket`s as one task, injects a fault at a random moment
 * mid-apply, waits for the task to end, and checks, from the simulator's journal and inventory and from
 * the store:
 *   1. no two lease tokens of the task mutated at overlapping times, lower tokens strictly first;
 *   2. no accepted mutation carries a token lower than one accepted before it (stale calls refused);
 *   3. the task ended exactly once (one terminal status, one ending in the audit log, a second
 *      completion refused);
 *   4. the state recorded for the target lists exactly the resources the simulator holds in its region.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbStateBackend } from '../../src/store/index.ts';
import type { Db } from '../../src/store/types.ts';
import type { JournalEntry } from '../../src/sim/index.ts';
import type { Timing } from '../../src/scheduler/timing.ts';
import { call } from '../../src/server/test-harness.ts';
import { freshPgliteDataDir, openTestDb, type TestDb } from '../helpers/db.ts';
import { startTestSim, type TestSim } from '../helpers/sim.ts';
import {
  chainFlock,
  chaosSeed,
  freePort,
  journalViolations,
  killGroup,
  logDir,
  processGroups,
  ProcessRegistry,
  Rng,
  sleep,
  spawnServer,
  spawnWorker,
  TcpRelay,
  until,
  type ServerProc,
  type WorkerProc,
} from '../helpers/cluster.ts';

/** Shortened lease timing for the randomized rounds (keeps timing.ts's invariants). */
export const CHAOS_TIMING: Partial<Timing> = {
  heartbeatMs: 250,
  leaseTtlMs: 1_500,
  leaseGraceMs: 750,
  marginMs: 300,
  upstreamTimeoutMs: 600,
  sweepMs: 100,
  pollMaxMs: 2_000,
  goneAfterMs: 60_000,
};

/** Buckets per apply; with the simulator's latency an apply takes a few seconds. */
export const CHAIN = 12;
export const SIM_LATENCY = { latencyMs: 150, jitterMs: 40 };

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface TaskView {
  readonly task_id: string;
  readonly status: string;
  readonly token: number;
  readonly worker: string | null;
  readonly attempts: number;
  readonly error: unknown;
}

export interface ClusterOptions {
  readonly label: string;
  readonly timing?: Partial<Timing>;
  /** 'process': one `drover server` child process; 'pair': two on one PostgreSQL. */
  readonly server: 'process' | 'pair';
  readonly workers?: number;
}

/** One simulator, a server (or two), three worker processes behind relays. */
export class Cluster {
  readonly reg = new ProcessRegistry();
  readonly workers = new Map<string, WorkerProc>();
  readonly relays = new Map<string, TcpRelay>();
  sim!: TestSim;
  adminToken = '';
  timing: Partial<Timing>;
  private tdb: TestDb | null = null;
  /** Highest journal seq before the current round (rounds read only what came after). */
  journalSince = 0;
  /** Child servers (process: one; pair: two) and how to start each again. */
  readonly servers: (ServerProc | null)[] = [];
  /** Rounds whose store checks wait for the servers to stop (PGlite). */
  readonly pendingStoreChecks: StoreCheck[] = [];
  private serverStarts: (() => Promise<ServerProc>)[] = [];
  private dataDir = '';
  private logs = '';
  private workerSeq = 0;
  private readonly ports: number[] = [];

  constructor(readonly opts: ClusterOptions) {
    this.timing = opts.timing ?? CHAOS_TIMING;
  }

  async start(): Promise<void> {
    this.logs = logDir(this.reg, `drover-chaos-${this.opts.label}-logs-`);
    this.sim = await startTestSim(SIM_LATENCY);
    {
      const pgUrl = process.env['DATABASE_URL'];
      if (pgUrl) {
        this.tdb = await openTestDb();
        this.dataDir = this.reg.tempDir('drover-chaos-server-');
      } else {
        if (this.opts.server === 'pair') throw new Error('two servers need PostgreSQL (DATABASE_URL)');
        this.dataDir = await freshPgliteDataDir();
        this.reg.adoptDir(this.dataDir);
      }
      const count = this.opts.server === 'pair' ? 2 : 1;
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        this.ports.push(port);
        this.serverStarts.push(() =>
          spawnServer(this.reg, {
            port,
            dataDir: this.dataDir,
            ...(this.tdb?.url ? { databaseUrl: this.tdb.url } : {}),
            timing: this.timing,
            logFile: `${this.logs}/server-${i}.log`,
          }),
        );
      }
      // One at a time: the first creates the admin token the second reuses.
      for (let i = 0; i < count; i++)
        this.servers.push(await (this.serverStarts[i] as () => Promise<ServerProc>)());
      this.adminToken = (this.servers[0] as ServerProc).adminToken;
    }
    const n = this.opts.workers ?? 3;
    await Promise.all(Array.from({ length: n }, () => this.addWorker()));
    await until(
      'all workers registered and healthy',
      async () => {
        const ws = await this.listWorkers().catch(() => []);
        return [...this.workers.keys()].every((name) =>
          ws.some((w) => w.name === name && w.status === 'healthy'),
        );
      },
      120_000,
      100,
    );
  }

  /** Backends every worker relay forwards to. */
  private backends(): { host: string; port: number }[] {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  /** A URL of a live server for the test's own API calls. */
  apiUrl(): string {
    const s = this.servers.find((x) => x !== null);
    if (!s) throw new Error('no server is running');
    return s.url;
  }

  private readonly adding = new Set<Promise<WorkerProc>>();
  private closing = false;

  /** A worker process (through a relay of its own), with a worker token minted for it. */
  addWorker(): Promise<WorkerProc> {
    const p = this.addWorkerNow();
    this.adding.add(p);
    // close() waits for these, so no worker is spawned after everything was killed.
    void p.catch(() => undefined).finally(() => this.adding.delete(p));
    return p;
  }

  private async addWorkerNow(): Promise<WorkerProc> {
    if (this.closing) throw new Error('the cluster is closing');
    this.workerSeq += 1;
    const name = `${this.opts.label}-w${this.workerSeq}`;
    const minted = await this.api<{ token: string }>('POST', '/api/v1/tokens', { role: 'worker', name });
    if (minted.status !== 201) throw new Error(`token mint answered ${minted.status}`);
    const relay = await TcpRelay.start(this.backends());
    const w = spawnWorker(this.reg, {
      serverUrl: relay.url,
      token: minted.body.token,
      name,
      simUrl: this.sim.url,
      simKeys: this.sim.keys,
      logDir: this.logs,
    });
    this.workers.set(name, w);
    this.relays.set(name, relay);
    return w;
  }

  /** Forgets a dead worker (its relay closes). */
  async removeWorker(name: string): Promise<void> {
    const w = this.workers.get(name);
    if (w) await killGroup(w).catch(() => undefined);
    this.workers.delete(name);
    await this.relays.get(name)?.close();
    this.relays.delete(name);
  }

  /** One API call, retried while no server answers (a restart in progress). */
  async api<T = unknown>(
    method: string,
    p: string,
    body?: unknown,
    fence?: string,
  ): Promise<{ status: number; body: T }> {
    const end = Date.now() + 120_000;
    for (;;) {
      try {
        return await call<T>(this.apiUrl(), method, p, {
          token: this.adminToken,
          ...(body !== undefined ? { body } : {}),
          ...(fence ? { fence } : {}),
        });
      } catch (e) {
        if (Date.now() > end) throw e;
        await sleep(200);
      }
    }
  }

  async task(taskId: string): Promise<TaskView> {
    const r = await this.api<TaskView>('GET', `/api/v1/tasks/${taskId}`);
    if (r.status !== 200) throw new Error(`GET task answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async listWorkers(): Promise<{ id: string; name: string; status: string; tasks: string[] }[]> {
    const r = await call<{ workers: { id: string; name: string; status: string; tasks: string[] }[] }>(
      this.apiUrl(),
      'GET',
      '/api/v1/workers',
      { token: this.adminToken },
    );
    return r.body.workers;
  }

  /** Journal entries after `since` (the simulator's seq). */
  async journal(since = 0): Promise<JournalEntry[]> {
    return (await (await fetch(`${this.sim.url}/_journal?since=${since}`)).json()) as JournalEntry[];
  }

  // ---- servers ----

  /** SIGKILL child server i (process / pair). */
  async killServer(i: number): Promise<void> {
    const s = this.servers[i];
    if (!s) return;
    this.servers[i] = null;
    await killGroup(s);
  }

  async startServerAgain(i: number): Promise<void> {
    if (this.servers[i]) return;
    this.servers[i] = await (this.serverStarts[i] as () => Promise<ServerProc>)();
  }

  /** The store, when this process may read it now (in-process server, or PostgreSQL). */
  storeNow(): Db | null {
    if (this.tdb) return this.tdb.db;
    return null;
  }

  /**
   * The store after the servers are stopped (PGlite behind a child server: one process per data dir).
   * The caller closes it.
   */
  async storeAfterStop(): Promise<{ db: Db; close: () => Promise<void> }> {
    const now = this.storeNow();
    if (now) return { db: now, close: async () => undefined };
    for (let i = 0; i < this.servers.length; i++) {
      const s = this.servers[i];
      if (!s) continue;
      this.servers[i] = null;
      await killGroup(s, 'SIGTERM');
    }
    const { openStore } = await import('../../src/store/index.ts');
    const db = await openStore({ dataDir: this.dataDir });
    return { db, close: () => db.close() };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.adding]);
    await this.reg.killAll();
    for (const r of this.relays.values()) await r.close().catch(() => undefined);
    this.relays.clear();
    await this.tdb?.cleanup().catch(() => undefined);
    await this.sim?.close().catch(() => undefined);
  }

  /** A timeline line (stdout with DROVER_CHAOS_VERBOSE; always in the logs directory's events.log). */
  event(msg: string): void {
    const line = `${new Date().toISOString()} [chaos ${this.opts.label}] ${msg}\n`;
    appendFileSync(`${this.logs}/events.log`, line);
    if (process.env['DROVER_CHAOS_VERBOSE']) process.stdout.write(line);
  }

  /** The tail of every log (printed when a round fails). */
  logTail(bytes = 4000): string {
    return [...this.workers.values()].map((w) => `--- ${w.name}\n${w.log().slice(-bytes)}`).join('\n');
  }
}

export interface StoreCheck {
  readonly flock: string;
  readonly region: string;
  readonly taskId: string;
  readonly status: string;
  readonly where: string;
}

export interface Victim {
  readonly taskId: string;
  readonly token: number;
  /** The worker running the task when the fault was injected. */
  readonly worker: WorkerProc | null;
  readonly workerName: string | null;
}

/** A fault, injected mid-apply; resolves once it is over (the victim restored or replaced). */
export type Fault = (c: Cluster, v: Victim, rng: Rng, ctx: RoundContext) => Promise<string>;

export interface RoundContext {
  /** Resolves when the task's token moved past `token` (it was reassigned), or after timeoutMs (false). */
  movedOn(token: number, timeoutMs?: number): Promise<boolean>;
  ended(): Promise<boolean>;
}

export interface RoundResult {
  readonly label: string;
  readonly taskId: string;
  readonly flock: string;
  readonly region: string;
  readonly status: string;
  readonly tokens: number[];
  readonly refusedAtSim: number;
  readonly note: string;
  readonly finalToken: number;
  /** The victim's proxy refused the task's calls at some point. */
  readonly proxyRefused: boolean;
}

/** Runs one round and checks properties 1–3 (and 4 when the store is readable now). */
export async function runRound(c: Cluster, fault: Fault, rng: Rng, label: string): Promise<RoundResult> {
  const flock = `ch-${label}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const region = flock;
  const submitted = await c.api<{ task_id: string }>('POST', '/api/v1/tasks', {
    kind: 'apply',
    flock: { files: { 'flock.yaml': chainFlock(flock, region, CHAIN) } },
    target: 't',
    artifacts: {},
  });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
  const taskId = submitted.body.task_id;
  c.event(`round ${label}: task ${taskId} submitted`);
  const since = c.journalSince;
  const mine = async (): Promise<JournalEntry[]> =>
    (await c.journal(since)).filter((e) => e.region === region);

  // A random moment mid-apply: after k accepted mutations, plus a random delay.
  const k = rng.int(1, 4);
  const extra = rng.int(0, 250);
  await until(
    `task ${taskId} to make ${k} mutations`,
    async () => (await mine()).filter((e) => e.status < 300).length >= k,
    120_000,
    100,
  );
  await sleep(extra);
  const before = await c.task(taskId);
  const workers = await c.listWorkers().catch(() => []);
  const workerName = workers.find((w) => w.id === before.worker)?.name ?? null;
  const victim: Victim = {
    taskId,
    token: before.token,
    worker: workerName ? (c.workers.get(workerName) ?? null) : null,
    workerName,
  };
  const ctx: RoundContext = {
    async movedOn(token, timeoutMs = 60_000) {
      try {
        await until(
          'the task to move on',
          async () => {
            const t = await c.task(taskId);
            return t.token > token || TERMINAL.has(t.status);
          },
          timeoutMs,
          50,
        );
        return true;
      } catch {
        return false;
      }
    },
    async ended() {
      return TERMINAL.has((await c.task(taskId)).status);
    },
  };
  c.event(
    `round ${label}: fault on ${workerName} (token ${before.token}, ${before.status}) after ${k} mutations + ${extra} ms`,
  );
  const note = await fault(c, victim, rng, ctx);
  c.event(`round ${label}: fault over: ${note}`);

  const done = await until(
    `task ${taskId} to end`,
    async () => {
      const t = await c.task(taskId).catch(() => null);
      return t && TERMINAL.has(t.status) ? t : null;
    },
    90_000,
    100,
  );
  c.event(
    `round ${label}: task ended ${done.status} with token ${done.token} after ${done.attempts} assignments`,
  );
  // Calls still on the wire when the task ended have answered by now (upstream timeout ≪ this).
  await sleep(500);
  const entries = await mine();
  c.journalSince = Math.max(since, ...(await c.journal(since)).map((e) => e.seq));
  const where = `round ${label} (task ${taskId}, ${note}, k=${k}+${extra}ms)`;

  // 1 + 2: the journal.
  const violations = journalViolations(entries, taskId);
  expect(violations, `${where}: journal violations`).toEqual([]);

  // 3: ended exactly once; a second completion is refused.
  expect(done.status, `${where}: ${JSON.stringify(done.error)}`).toBe('succeeded');
  const again = await c.api(
    'POST',
    `/api/v1/tasks/${taskId}/complete`,
    { status: 'succeeded', result: {} },
    `${taskId}:${done.token}`,
  );
  expect(again.status, `${where}: a second completion`).toBe(409);
  // 3 (audit) and 4 now, or after the rounds when the store is a child server's PGlite directory.
  const db = c.storeNow();
  const pending = { flock, region, taskId, status: done.status, where };
  if (db) await checkStore(db, pending, c);
  else c.pendingStoreChecks.push(pending);

  return {
    label,
    taskId,
    flock,
    region,
    status: done.status,
    tokens: [...new Set(entries.filter((e) => e.status < 300).map((e) => Number(e.token)))].sort(
      (a, b) => a - b,
    ),
    refusedAtSim: entries.filter((e) => e.status === 409 && e.code === 'STALE_FENCE').length,
    note,
    finalToken: done.token,
    proxyRefused: proxyRefused(victim.worker, taskId),
  };
}

/** Properties 3 (audit: one ending) and 4 (state ≡ simulator inventory of the region). */
export async function checkStore(db: Db, r: StoreCheck, c: Cluster): Promise<void> {
  const where = r.where;
  const { rows } = await db.query<{ action: string }>(
    `SELECT action FROM drover_audit WHERE object = $1 AND action IN ('task.complete', 'task.fail', 'task.cancelled') ORDER BY id`,
    [r.taskId],
  );
  expect(
    rows.map((x) => x.action),
    `${where}: endings in the audit log`,
  ).toHaveLength(1);
  const snap = await new DbStateBackend(db).load(r.flock, 't');
  const inState = [...snap.resources.values()].map((x) => x.id).sort();
  const inSim = (await c.sim.resources()).filter((x) => x.region === r.region);
  expect(inState, `${where}: state vs simulator`).toEqual(inSim.map((x) => x.id).sort());
  expect([...snap.intents.keys()], `${where}: pending intents`).toEqual([]);
  if (r.status === 'succeeded') {
    expect(inSim.map((x) => x.name).sort(), `${where}: one bucket per address`).toEqual(
      Array.from({ length: CHAIN }, (_x, i) => `${r.flock}-b${i}`).sort(),
    );
  }
}

/** Every process group of a worker's tree now (worker + proxy, and each task's own group). */
export function workerGroups(w: WorkerProc): number[] {
  return processGroups(w.pid);
}

export function signalGroups(groups: readonly number[], sig: NodeJS.Signals): void {
  for (const g of groups) {
    try {
      process.kill(-g, sig);
    } catch {
      /* gone */
    }
  }
}

/** Prints one line per fault: what the rounds saw (the seed is printed by the caller). */
export function summarize(label: string, seed: number, results: readonly RoundResult[]): void {
  const moved = results.filter((r) => r.tokens.length > 1).length;
  const refused = results.filter((r) => r.proxyRefused).length;
  const stale = results.reduce((n, r) => n + r.refusedAtSim, 0);
  const notes = new Map<string, number>();
  for (const r of results) notes.set(r.note, (notes.get(r.note) ?? 0) + 1);
  process.stdout.write(
    `[chaos ${label}] seed=${seed} rounds=${results.length} reassigned=${moved} proxy-refused=${refused} stale-refused-at-sim=${stale} faults=${JSON.stringify(Object.fromEntries(notes))}\n`,
  );
}

/** Rounds per fault: DROVER_CHAOS_ROUNDS overrides the default. */
export function roundsFor(dflt: number): number {
  const raw = process.env['DROVER_CHAOS_ROUNDS'];
  return raw ? Math.max(1, Number(raw)) : dflt;
}

/** Runs a round; on failure prints the seed and the workers' log tails before rethrowing. */
export async function roundOrReport(
  c: Cluster,
  fault: Fault,
  rng: Rng,
  label: string,
  seed: number,
  results: RoundResult[],
): Promise<void> {
  try {
    results.push(await runRound(c, fault, rng, label));
  } catch (e) {
    process.stderr.write(`[chaos ${label}] FAILED; replay with DROVER_CHAOS_SEED=${seed}\n${c.logTail()}\n`);
    throw e;
  }
}

/** True when the victim's proxy logged refusing this task's calls (the lease was not valid). */
export function proxyRefused(w: WorkerProc | null, taskId: string): boolean {
  if (!w) return false;
  return w
    .log()
    .split('\n')
    .some(
      (l) =>
        l.includes(taskId) &&
        (l.includes('refusing calls') ||
          l.includes('cutting open upstream calls') ||
          l.includes('the lease lapsed during the run')),
    );
}

/**
 * One fault's suite: a cluster for all its rounds (sequential), the seed printed first, a summary
 * printed last, and `extra` checks over all rounds' results.
 */
export function chaosSuite(opts: {
  label: string;
  title: string;
  cluster: Omit<ClusterOptions, 'label'>;
  fault: Fault;
  rounds: number;
  extra?: (results: readonly RoundResult[]) => void;
  /** Runs after the rounds (e.g. store checks that need the servers stopped). */
  after?: (c: Cluster, results: readonly RoundResult[]) => Promise<void>;
  skip?: string | false;
}): void {
  const seed = chaosSeed();
  const rng = new Rng(seed).fork(opts.label);
  // The reason is in the title, so a skipped run says why.
  describe.skipIf(Boolean(opts.skip))(
    opts.skip ? `${opts.title} (skipped: ${opts.skip})` : opts.title,
    () => {
      const c = new Cluster({ label: opts.label, ...opts.cluster });
      const results: RoundResult[] = [];
      beforeAll(async () => {
        process.stdout.write(`[chaos ${opts.label}] DROVER_CHAOS_SEED=${seed}\n`);
        await c.start();
      }, 240_000);
      afterAll(async () => {
        summarize(opts.label, seed, results);
        await c.close();
      }, 60_000);
      const rounds = roundsFor(opts.rounds);
      for (let i = 0; i < rounds; i++) {
        it(`round ${i}`, async () => {
          await roundOrReport(c, opts.fault, rng.fork(`round-${i}`), `${opts.label}-${i}`, seed, results);
        }, 300_000);
      }
      it('over all rounds', async () => {
        expect(results).toHaveLength(rounds);
        await opts.after?.(c, results);
        if (c.pendingStoreChecks.length) {
          const store = await c.storeAfterStop();
          try {
            for (const p of c.pendingStoreChecks) await checkStore(store.db, p, c);
          } finally {
            await store.close();
          }
        }
        opts.extra?.(results);
      }, 120_000);
    },
  );
}

/** Holds a fault: 'short' (around the proxy's cutoff, maybe no reassignment) or 'long' (until the task moved on, then more). */
export async function hold(
  mode: 'short' | 'long',
  v: Victim,
  rng: Rng,
  ctx: RoundContext,
  timing: Partial<Timing>,
): Promise<void> {
  const ttl = timing.leaseTtlMs ?? 1_000;
  if (mode === 'short') return sleep(rng.int(Math.round(ttl / 10), Math.round(ttl * 1.4)));
  await ctx.movedOn(v.token);
  await sleep(rng.int(0, Math.round(ttl * 1.5)));
}
