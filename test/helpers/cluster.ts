/**
 * @module test/helpers/cluster — real processes for end-to-end and chaos tests (SPEC.md §5 "The
 * guarantee"): `drover worker` processes (each with its proxy and task processes), `drover server` as a
 * child process, a TCP relay that can cut a connection without closing it, process-tree signalling, and
 * the checks the chaos suite makes from the simulator's journal and inventory.
 *
 * Every process started here is registered in a ProcessRegistry; `killAll()` SIGKILLs every process
 * group it started and every descendant group (task processes run in groups of their own).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, closeSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JournalEntry } from '../../src/sim/index.ts';
import type { Timing } from '../../src/scheduler/timing.ts';
import { TIMING_ENV } from '../../src/scheduler/timing.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; throws `timed out waiting for WHAT` after timeoutMs. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- randomness ------------------------------------------------------------------------------------

/** A small seeded PRNG (mulberry32): the same seed replays the same faults at the same moments. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
  /** A child generator, so adding a draw in one fault's rounds does not shift every other fault's. */
  fork(label: string): Rng {
    let h = this.seed >>> 0;
    for (const c of label) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    return new Rng(h);
  }
}

/** DROVER_CHAOS_SEED, else a fresh one. Printed by the caller so a failing run can be replayed. */
export function chaosSeed(): number {
  const raw = process.env['DROVER_CHAOS_SEED'];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`DROVER_CHAOS_SEED must be a non-negative integer, got ${raw}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

// ---- processes --------------------------------------------------------------------------------------

interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
}

/** Every process on the host (Linux /proc). */
function processTable(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // comm may hold spaces and parentheses: fields start after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(rest[1]), pgid: Number(rest[2]) });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** pid and all its descendants. */
export function processTree(pid: number): ProcInfo[] {
  const table = processTable();
  const children = new Map<number, ProcInfo[]>();
  for (const p of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const root = table.find((p) => p.pid === pid);
  if (!root) return [];
  const out: ProcInfo[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop() as ProcInfo;
    out.push(p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

/** Process groups of pid's tree (the worker's own group first). */
export function processGroups(pid: number): number[] {
  const groups: number[] = [];
  for (const p of processTree(pid)) if (!groups.includes(p.pgid)) groups.push(p.pgid);
  return groups;
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* gone */
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The processes one test started; killAll() leaves none behind. */
export class ProcessRegistry {
  private readonly roots = new Map<
    number,
    { child: ChildProcess; exited: Promise<void>; groups: Set<number> }
  >();
  private readonly dirs: string[] = [];

  track(child: ChildProcess): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    this.roots.set(child.pid as number, { child, exited, groups: new Set([child.pid as number]) });
    return exited;
  }

  /** Remembers the groups of a process tree now (task groups appear and vanish while it runs). */
  noteGroups(pid: number): void {
    const r = this.roots.get(pid);
    if (r) for (const g of processGroups(pid)) r.groups.add(g);
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** A directory made elsewhere, removed by killAll() too. */
  adoptDir(dir: string): void {
    this.dirs.push(dir);
  }

  async killAll(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const [pid, r] of this.roots) {
      for (const g of processGroups(pid)) r.groups.add(g);
      // SIGCONT too: a stopped process group would otherwise keep a SIGKILL pending until continued.
      for (const g of r.groups) {
        signalGroup(g, 'SIGKILL');
        signalGroup(g, 'SIGCONT');
      }
      waits.push(r.exited);
    }
    await Promise.race([Promise.all(waits), sleep(10_000)]);
    // Orphaned task groups (their parent died first) are found by the groups recorded above.
    this.roots.clear();
    await sleep(200);
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

export interface SimKeys {
  readonly DROVER_SIM_ACCESS_KEY: string;
  readonly DROVER_SIM_SECRET_KEY: string;
}

export interface WorkerProc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<void>;
  alive(): boolean;
  /** The worker's log so far (its proxy's and tasks' stderr too). */
  log(): string;
}

/** `drover worker` (src/worker/main.ts) as a process-group leader, logging to a file. */
export function spawnWorker(
  reg: ProcessRegistry,
  opts: { serverUrl: string; token: string; name: string; simUrl: string; simKeys: SimKeys; logDir: string },
): WorkerProc {
  const work = reg.tempDir(`drover-chaos-${opts.name}-`);
  const logFile = path.join(opts.logDir, `${opts.name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(ROOT, 'src/worker/main.ts'),
      '--server',
      opts.serverUrl,
      '--name',
      opts.name,
      '--work-dir',
      work,
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/',
        DROVER_TOKEN: opts.token,
        DROVER_SIM_URL: opts.simUrl,
        ...opts.simKeys,
      },
    },
  );
  closeSync(fd);
  const exited = reg.track(child);
  return {
    name: opts.name,
    pid: child.pid as number,
    child,
    logFile,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}

export interface ServerProc {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly adminToken: string;
}

/** A free 127.0.0.1 port (bound and released; fine for tests). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function timingEnv(timing: Partial<Timing>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(timing))
    if (v !== undefined) env[TIMING_ENV[k as keyof Timing]] = String(v);
  return env;
}

/**
 * `drover server` (the real CLI) as a child process in its own group, on `port`, over the PGlite data
 * directory or the PostgreSQL database given. Resolves once it listens. Its output goes to logFile.
 */
export async function spawnServer(
  reg: ProcessRegistry,
  opts: { port: number; dataDir: string; databaseUrl?: string; timing: Partial<Timing>; logFile: string },
): Promise<ServerProc> {
  const fd = openSync(opts.logFile, 'a');
  const args = [
    '--import',
    'tsx',
    path.join(ROOT, 'src/cli/main.ts'),
    'server',
    '--port',
    String(opts.port),
    '--data-dir',
    opts.dataDir,
  ];
  if (opts.databaseUrl) args.push('--database-url', opts.databaseUrl);
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', fd],
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/', ...timingEnv(opts.timing) },
  });
  closeSync(fd);
  const exited = reg.track(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  let dead = false;
  void exited.then(() => (dead = true));
  await until(
    `drover server on port ${opts.port} to listen`,
    () => {
      if (dead)
        throw new Error(
          `drover server exited at start: ${out}\n${readFileSync(opts.logFile, 'utf8').slice(-3000)}`,
        );
      return out.includes('listening on');
    },
    90_000,
  );
  const adminToken = readFileSync(path.join(opts.dataDir, 'admin.token'), 'utf8').trim();
  return {
    url: `http://127.0.0.1:${opts.port}`,
    port: opts.port,
    pid: child.pid as number,
    child,
    exited,
    adminToken,
  };
}

/** SIGKILL a process group and wait for its leader to be reaped. */
export async function killGroup(
  proc: { pid: number; exited: Promise<void> },
  sig: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  signalGroup(proc.pid, sig);
  await proc.exited;
}

// ---- a TCP relay that can cut a connection without closing it ----------------------------------------

/**
 * A TCP relay on 127.0.0.1 to one or more backends (tried in turn: a simple failover balancer).
 *
 * cut(): a network partition — nothing is forwarded either way and nothing is closed; bytes wait (as TCP
 * retransmits would) and new connections are accepted but not connected through.
 * heal({ reset }): forwarding resumes — what waited is delivered late (reset false), or every connection
 * held across the cut is reset (reset true), as a long partition ends for TCP.
 */
export class TcpRelay {
  readonly port: number;
  private readonly server: net.Server;
  private readonly pairs = new Set<RelayPair>();
  private isCut = false;
  private next = 0;

  private constructor(
    server: net.Server,
    private backends: { host: string; port: number }[],
  ) {
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  static async start(backends: { host: string; port: number }[]): Promise<TcpRelay> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const relay = new TcpRelay(server, backends);
    server.on('connection', (s) => relay.accept(s));
    return relay;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // Bytes are forwarded by hand, not piped: while cut, each direction's bytes wait in `held` (as
  // unacknowledged segments would) and nothing is closed.
  private accept(a: net.Socket): void {
    const pair: RelayPair = { a, b: null, toB: [], toA: [], connecting: false };
    this.pairs.add(pair);
    const drop = (): void => {
      a.destroy();
      pair.b?.destroy();
      this.pairs.delete(pair);
    };
    a.on('error', drop);
    a.on('close', drop);
    a.on('data', (c: Buffer) => {
      if (this.isCut || !pair.b) pair.toB.push(c);
      else pair.b.write(c);
    });
    if (!this.isCut) this.connect(pair, 0);
  }

  private connect(pair: RelayPair, tried: number): void {
    if (pair.a.destroyed) return;
    if (tried >= this.backends.length) return void pair.a.destroy();
    pair.connecting = true;
    const backend = this.backends[this.next++ % this.backends.length] as { host: string; port: number };
    const b = net.connect(backend.port, backend.host);
    let connected = false;
    b.on('error', () => {
      if (!connected) this.connect(pair, tried + 1);
      else pair.a.destroy();
    });
    b.on('close', () => {
      if (connected) pair.a.destroy();
    });
    b.once('connect', () => {
      connected = true;
      pair.connecting = false;
      if (pair.a.destroyed) return void b.destroy();
      pair.b = b;
      b.on('data', (c: Buffer) => {
        if (this.isCut) pair.toA.push(c);
        else pair.a.write(c);
      });
      if (!this.isCut) this.flush(pair);
    });
  }

  private flush(pair: RelayPair): void {
    if (pair.b) for (const c of pair.toB.splice(0)) pair.b.write(c);
    for (const c of pair.toA.splice(0)) pair.a.write(c);
  }

  /** Stops forwarding both ways; closes nothing. */
  cut(): void {
    this.isCut = true;
  }

  /** Forwarding resumes: held bytes are delivered late, or (reset) every connection is reset. */
  heal(opts: { reset: boolean } = { reset: false }): void {
    this.isCut = false;
    for (const p of [...this.pairs]) {
      if (opts.reset) {
        p.a.resetAndDestroy();
        p.b?.resetAndDestroy();
        this.pairs.delete(p);
      } else if (p.b) this.flush(p);
      else if (!p.connecting) this.connect(p, 0);
    }
  }

  setBackends(backends: { host: string; port: number }[]): void {
    this.backends = backends;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b?.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface RelayPair {
  readonly a: net.Socket;
  b: net.Socket | null;
  readonly toB: Buffer[];
  readonly toA: Buffer[];
  connecting: boolean;
}

// ---- flocks and checks ------------------------------------------------------------------------------

/** A chain of n buckets in `region`: sequential creates, so an apply takes n × the simulator's latency. */
export function chainFlock(flock: string, region: string, n: number): string {
  const lines = [
    `flock: ${flock}`,
    'targets:',
    '  - name: t',
    `    region: ${region}`,
    'providers:',
    '  sim: { endpoint: "${env.DROVER_SIM_URL}" }',
    'resources:',
  ];
  for (let i = 0; i < n; i++) {
    lines.push(`  b${i}:`, '    type: sim.bucket', `    properties: { name: "${flock}-b${i}" }`);
    if (i > 0) lines.push(`    depends_on: [b${i - 1}]`);
  }
  return `${lines.join('\n')}\n`;
}

const ok = (e: JournalEntry): boolean => e.status >= 200 && e.status < 300;

/**
 * The journal properties of SPEC.md §5 for one task's region, as a list of violations (empty: holds).
 *  1. 2xx mutations under different tokens never overlap in time, and every 2xx mutation of a lower
 *     token ended before any 2xx mutation of a higher token started;
 *  2. in answer order, no 2xx mutation carries a token lower than one already accepted (a stale call
 *     that slipped out was refused);
 *  and every mutation in the region was made for this task, through a proxy (fenced).
 */
export function journalViolations(entries: readonly JournalEntry[], taskId: string): string[] {
  const v: string[] = [];
  for (const e of entries) {
    if (e.task !== taskId || e.token === null) v.push(`unfenced or foreign mutation: ${JSON.stringify(e)}`);
  }
  const accepted = entries
    .filter(ok)
    .map((e) => ({ e, from: Date.parse(e.started), to: Date.parse(e.at), token: Number(e.token) }));
  for (const x of accepted) {
    for (const y of accepted) {
      if (x.token >= y.token) continue;
      // x has the lower token: it must have ended before y began.
      if (!(x.to <= y.from)) {
        v.push(
          `token ${x.token} call ${x.e.seq} [${x.e.started}, ${x.e.at}] not before token ${y.token} call ${y.e.seq} [${y.e.started}, ${y.e.at}]`,
        );
      }
    }
  }
  let highest = -Infinity;
  for (const x of [...accepted].sort((a, b) => a.e.seq - b.e.seq)) {
    if (x.token < highest)
      v.push(`stale token ${x.token} accepted after token ${highest}: ${JSON.stringify(x.e)}`);
    highest = Math.max(highest, x.token);
  }
  return v;
}

/** Temp dir for logs, kept when DROVER_CHAOS_KEEP_LOGS is set. */
export function logDir(reg: ProcessRegistry, prefix: string): string {
  if (process.env['DROVER_CHAOS_KEEP_LOGS']) return mkdtempSync(path.join(os.tmpdir(), prefix));
  return reg.tempDir(prefix);
}
