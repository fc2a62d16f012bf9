/**
 * @module server/test-harness — helpers for the scheduler and API tests: a real server on 127.0.0.1
 * port 0 over a test database, a raw JSON client, and a scripted worker that speaks the protocol
 * (register, heartbeat with signature check, poll). Not used by production code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  verifyAck,
  type HeartbeatResponse,
  type PollResponse,
  type RegisterResponse,
  type TaskSpec,
} from '../scheduler/protocol.ts';
import type { Timing } from '../scheduler/timing.ts';
import type { Db } from '../store/types.ts';
import { startServer, type RunningServer, type ServerOptions } from './index.ts';

/** Short leases so expiry and reassignment happen within a second. Keeps timing.ts's invariants. */
export const FAST_TIMING: Partial<Timing> = {
  heartbeatMs: 100,
  leaseTtlMs: 1_200,
  leaseGraceMs: 600,
  marginMs: 100,
  upstreamTimeoutMs: 400,
  sweepMs: 50,
  pollMaxMs: 5_000,
  goneAfterMs: 60_000,
};

/**
 * For tests that are not about expiry: fast sweeps and polls, but a lease long enough that a loaded
 * machine (a starved event loop) never expires a worker by accident.
 */
export const STEADY_TIMING: Partial<Timing> = {
  ...FAST_TIMING,
  leaseTtlMs: 15_000,
  leaseGraceMs: 3_000,
  upstreamTimeoutMs: 1_000,
};

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  /** close() and remove the data directory. */
  stop(): Promise<void>;
}

export async function startTestServer(db: Db, opts: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'drover-server-test-'));
  const server = await startServer({
    db,
    dataDir,
    port: 0,
    log: false,
    timing: FAST_TIMING,
    env: {},
    ...opts,
  });
  return {
    ...server,
    dataDir,
    close: () => server.close(),
    async stop() {
      await server.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A parsed JSON body the test inspects freely (tests check shapes with expect). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Answer<T = Json> {
  readonly status: number;
  readonly body: T;
}

/** One JSON call, never throwing for an HTTP status. */
export async function call<T = Json>(
  url: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; fence?: string; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.fence ? { 'drover-fence': opts.fence } : {}),
      ...opts.headers,
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T };
}

/** Waits until fn returns a truthy value (polling), or fails after timeoutMs with `what`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export const FLOCK_FILES = { 'flock.yaml': 'flock: hello\ntargets:\n  - name: beta\n    region: sim-1\n' };

export function taskSpec(over: Partial<TaskSpec> = {}): TaskSpec {
  return { kind: 'apply', flock: { files: FLOCK_FILES }, target: 'beta', artifacts: {}, ...over };
}

/** A scripted worker: speaks the protocol directly (as its proxy would) and checks every ack's signature. */
export class ScriptedWorker {
  id = '';
  ackKey = '';
  seq = 0;
  reg: RegisterResponse | undefined;
  private timer: NodeJS.Timeout | undefined;
  lastAck: HeartbeatResponse | undefined;

  constructor(
    readonly url: string,
    readonly token: string,
    readonly name: string,
    readonly capacity = 1,
  ) {}

  async register(): Promise<RegisterResponse> {
    const r = await call<RegisterResponse>(this.url, 'POST', '/api/v1/workers/register', {
      token: this.token,
      body: {
        name: this.name,
        host: 'test-host',
        pid: process.pid,
        proxy_pid: process.pid,
        capacity: this.capacity,
      },
    });
    if (r.status !== 200) throw new Error(`register answered ${r.status}: ${JSON.stringify(r.body)}`);
    this.reg = r.body;
    this.id = r.body.worker_id;
    this.ackKey = r.body.ack_key;
    return r.body;
  }

  /** One heartbeat; throws unless the ack verifies. */
  async heartbeat(tasks: readonly string[] = []): Promise<HeartbeatResponse> {
    const r = await this.heartbeatRaw(tasks);
    if (r.status !== 200) throw new Error(`heartbeat answered ${r.status}: ${JSON.stringify(r.body)}`);
    if (!verifyAck(this.ackKey, r.body.ack, r.body.sig)) throw new Error('ack signature does not verify');
    this.lastAck = r.body;
    return r.body;
  }

  heartbeatRaw(tasks: readonly string[] = []): Promise<Answer<HeartbeatResponse>> {
    this.seq += 1;
    return call<HeartbeatResponse>(this.url, 'POST', `/api/v1/workers/${this.id}/heartbeat`, {
      token: this.token,
      body: { seq: this.seq, tasks },
    });
  }

  /** Heartbeats every `everyMs`, naming what is assigned to it (as a worker running everything would). */
  keepAlive(everyMs = 100): void {
    this.stopHeartbeats();
    let inFlight = false;
    const beat = async (): Promise<void> => {
      // Like a real worker: never two heartbeats of one worker on the wire at once.
      if (inFlight) return;
      inFlight = true;
      try {
        const named = this.lastAck?.assignments.map((a) => a.task_id) ?? [];
        await this.heartbeat(named);
      } catch {
        /* the test decides what a missed beat means */
      } finally {
        inFlight = false;
      }
    };
    void beat();
    this.timer = setInterval(() => void beat(), everyMs);
  }

  stopHeartbeats(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  poll(waitMs: number): Promise<Answer<PollResponse>> {
    return call<PollResponse>(this.url, 'GET', `/api/v1/workers/${this.id}/poll?wait_ms=${waitMs}`, {
      token: this.token,
    });
  }
}
