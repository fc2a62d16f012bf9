/**
 * @module proxy/proxy-server — the signing proxy (SPEC.md §5): the only network path out of a task's
 * sandbox. One control endpoint for its worker (register, heartbeat, poll …, which it forwards to the
 * server with the worker's bearer token, watching the heartbeats and their signed acks), and one endpoint
 * per task (a unix socket, or an ephemeral 127.0.0.1 port) through which every call of that task leaves —
 * only while the lease-check says the task's lease is valid now.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DroverError, type ErrorCode } from '../errors.ts';
import { type LeaseAck, type RegisterResponse, parseFence, verifyAck } from '../scheduler/protocol.ts';
import type { Credentials } from '../signing/index.ts';
import { signRequestSync } from '../signing/index.ts';
import {
  LeaseCheck,
  type ClockReading,
  type Refusal,
  defaultJumpThreshold,
  realClock,
} from './lease-check.ts';

export interface ProxyOptions {
  /** The Drover server's base URL (`http://127.0.0.1:7800`). */
  readonly serverUrl: string;
  /** The worker's bearer token; added to calls whose destination is the server. */
  readonly token: string;
  /** Signs every call to any other destination; absent: such calls go out unsigned (logged once). */
  readonly credentials?: Credentials;
  /** A private directory (0700) for the control socket and the task sockets. */
  readonly dir: string;
  /** Injected clock (tests). Default: the real monotonic + wall (+ boot) clocks. */
  readonly clock?: () => ClockReading;
  /** How often expiry and clock jumps are checked when nothing else happens. Default 250 ms. */
  readonly tickMs?: number;
  /** Override of the jump threshold (default: min(1 s, margin)). */
  readonly jumpThresholdMs?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export type TaskTransport = 'unix' | 'tcp';

export interface TaskEndpointInfo {
  readonly task_id: string;
  readonly token: string;
  /** Unix socket path (transport unix) — a file inside its own directory, bind-mountable into a sandbox. */
  readonly socket?: string;
  readonly socket_dir?: string;
  /** 127.0.0.1 port (transport tcp). */
  readonly port?: number;
}

interface TaskEndpoint {
  readonly id: string;
  readonly taskId: string;
  readonly token: string;
  readonly server: http.Server;
  readonly info: TaskEndpointInfo;
  /** Upstream requests in flight, with the downstream response each feeds. */
  readonly inflight: Map<http.ClientRequest, http.ServerResponse>;
  /**
   * This task's own keep-alive pools (one connection per call cost more than the call itself). Per task,
   * never shared, so cutting a task destroys every upstream socket it has — in flight or idle — and
   * nothing of one task's can carry another's call. Replaced by fresh pools on every cut.
   */
  pools: UpstreamPools;
  /** Why the last call was refused (diagnostics, and to log a refusal run once). */
  refusing: Refusal | null;
}

interface Registration {
  readonly workerId: string;
  readonly name: string;
  readonly ackKey: string;
  readonly upstreamTimeoutMs: number;
  readonly leaseTtlMs: number;
}

/** Headers never copied from a task's request: hop-by-hop, routing, and anything the proxy itself sets. */
/** Answers up to this size, with a content-length, are sent downstream in one write (sendUpstream). */
const SMALL_RESPONSE_BYTES = 64 * 1024;

const STRIPPED_REQUEST = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'authorization',
  'drover-target-url',
  'drover-fence',
  'drover-worker',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-security-token',
  'x-drover-nonce',
]);
const STRIPPED_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'upgrade',
]);

/** Set on answers the proxy made itself (refusals, unreachable destinations), never on forwarded ones. */
export const PROXY_ERROR_HEADER = 'drover-proxy-error';

/** Bodies above this are refused (a provisioner call is small; the limit keeps the proxy's memory bounded). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Before registration tells us better. */
const FALLBACK_UPSTREAM_TIMEOUT_MS = 4_000;

export class SigningProxy {
  readonly controlSocket: string;
  private readonly opts: ProxyOptions;
  private readonly clock: () => ClockReading;
  private readonly serverUrl: URL;
  private readonly gate: LeaseCheck;
  private readonly endpoints = new Map<string, TaskEndpoint>();
  private control: http.Server | null = null;
  private registration: Registration | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private warnedUnsigned = false;
  private closed = false;

  constructor(opts: ProxyOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.serverUrl = new URL(opts.serverUrl);
    this.controlSocket = path.join(opts.dir, 'control.sock');
    // No lease until the first acknowledged heartbeat of a registration: closed from the start.
    this.gate = new LeaseCheck({
      workerId: '',
      leaseTtlMs: 10_000,
      marginMs: 1_000,
      jumpThresholdMs: opts.jumpThresholdMs ?? 1_000,
    });
  }

  async start(): Promise<void> {
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
    rmSync(this.controlSocket, { force: true });
    const control = http.createServer((req, res) => {
      this.handleControl(req, res).catch((e: unknown) => this.fail(res, e));
    });
    await listen(control, this.controlSocket);
    this.control = control;
    this.ticker = setInterval(() => this.enforce(), this.opts.tickMs ?? 250);
    this.ticker.unref();
  }

  /** Fails closed, cuts everything, removes every socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const ep of [...this.endpoints.values()]) await this.closeEndpoint(ep);
    if (this.control) {
      this.control.closeAllConnections();
      await new Promise<void>((resolve) => this.control?.close(() => resolve()));
    }
    rmSync(this.controlSocket, { force: true });
  }

  /** What the gate believes (diagnostics, `GET /_proxy/status`). */
  status(): Record<string, unknown> {
    const snap = this.gate.snapshot();
    const now = this.clock().mono;
    return {
      worker_id: this.registration?.workerId ?? null,
      lease_seq: snap.seq,
      lease_remaining_ms: snap.validUntil === null ? null : Math.max(0, Math.round(snap.validUntil - now)),
      tasks: snap.tasks,
      jumped: snap.jumped,
      endpoints: [...this.endpoints.values()].map((e) => ({
        ...e.info,
        inflight: e.inflight.size,
        refusing: e.refusing,
      })),
    };
  }

  // ---- the control endpoint (the worker) ---------------------------------------------------------

  private async handleControl(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const parts = url.pathname.split('/').filter(Boolean);

    if (url.pathname === '/_proxy/status' && method === 'GET') return sendJson(res, 200, this.status());
    if (url.pathname === '/_proxy/tasks' && method === 'POST') {
      const body = parseJson(await readBody(req, 64 * 1024)) as {
        task_id?: unknown;
        token?: unknown;
        transport?: unknown;
      };
      if (
        typeof body?.task_id !== 'string' ||
        body.task_id === '' ||
        (typeof body.token !== 'number' && typeof body.token !== 'string')
      ) {
        throw new DroverError(
          'VALIDATION',
          'expected { task_id: string, token: number, transport?: "unix"|"tcp" }',
        );
      }
      const transport: TaskTransport = body.transport === 'tcp' ? 'tcp' : 'unix';
      const info = await this.openEndpoint(body.task_id, String(body.token), transport);
      return sendJson(res, 201, info);
    }
    if (parts[0] === '_proxy' && parts[1] === 'tasks' && parts[2] && method === 'DELETE') {
      const taskId = decodeURIComponent(parts[2]);
      const token = url.searchParams.get('token');
      const eps = [...this.endpoints.values()].filter(
        (e) => e.taskId === taskId && (token === null || e.token === token),
      );
      for (const ep of eps) await this.closeEndpoint(ep);
      return sendJson(res, 200, { closed: eps.length });
    }
    if (!url.pathname.startsWith('/api/v1/'))
      throw new DroverError('NOT_FOUND', `no control route ${method} ${url.pathname}`);

    const body = await readBody(req, MAX_BODY_BYTES);
    if (url.pathname === '/api/v1/workers/register' && method === 'POST') return this.register(body, res);
    if (parts.length === 5 && parts[2] === 'workers' && parts[4] === 'heartbeat' && method === 'POST') {
      return this.heartbeat(decodeURIComponent(parts[3] ?? ''), body, res);
    }
    // The worker's own calls: its worker routes (poll …) pass with its token. Task routes (a crashed
    // task's completion, events) are gated like a task's own calls — the fence must name a task and token
    // the current lease covers — so the control socket is no way around the gate for anyone who finds it.
    // Nothing else passes: state routes are for tasks, through their own endpoints.
    if (parts[2] === 'tasks' && parts.length === 5 && (parts[4] === 'complete' || parts[4] === 'events')) {
      const fence = parseFence(
        typeof req.headers['drover-fence'] === 'string' ? req.headers['drover-fence'] : undefined,
      );
      const taskId = decodeURIComponent(parts[3] ?? '');
      const d =
        fence && fence.taskId === taskId
          ? this.gate.isValid(taskId, this.clock(), String(fence.token))
          : null;
      if (!d?.ok) {
        return sendError(
          res,
          'LEASE_EXPIRED',
          `the lease of task ${taskId} is not valid; the call was refused`,
          {
            task_id: taskId,
            reason: d ? d.reason : 'no-fence',
          },
        );
      }
    } else if (parts[2] !== 'workers') {
      throw new DroverError('FORBIDDEN', `the control endpoint does not forward ${method} ${url.pathname}`);
    }
    const wait = Number(url.searchParams.get('wait_ms') ?? 0);
    const timeout = (Number.isFinite(wait) ? wait : 0) + 15_000;
    const up = await this.forwardToServer(
      method,
      url.pathname + url.search,
      body,
      pickHeaders(req, ['content-type', 'drover-fence']),
      timeout,
    );
    sendRaw(res, up.status, up.headers, up.body);
  }

  private async register(body: Buffer, res: http.ServerResponse): Promise<void> {
    const input = parseJson(body.toString('utf8')) as Record<string, unknown> | null;
    if (!input || typeof input !== 'object')
      throw new DroverError('VALIDATION', 'register: expected a JSON object');
    const payload = { ...input, proxy_pid: process.pid };
    const up = await this.forwardToServer(
      'POST',
      '/api/v1/workers/register',
      Buffer.from(JSON.stringify(payload)),
      { 'content-type': 'application/json' },
      15_000,
    );
    if (up.status < 200 || up.status >= 300) return sendRaw(res, up.status, up.headers, up.body);
    const reg = parseJson(up.body.toString('utf8')) as RegisterResponse | null;
    if (
      !reg ||
      typeof reg.worker_id !== 'string' ||
      typeof reg.ack_key !== 'string' ||
      !/^[0-9a-f]+$/i.test(reg.ack_key)
    ) {
      throw new DroverError('INTERNAL', 'the server answered register without worker_id / ack_key');
    }
    const margin = positive(reg.margin_ms, 1_000);
    const ttl = positive(reg.lease_ttl_ms, 10_000);
    const grace = positive(reg.lease_grace_ms, 5_000);
    // Shorter than the quarantine, so a call let out just before the cutoff has drained before reassignment.
    const upstreamTimeoutMs = Math.min(
      positive(reg.upstream_timeout_ms, grace - Math.min(1_000, grace / 5)),
      grace - 1,
    );
    this.registration = {
      workerId: reg.worker_id,
      name: String(input['name'] ?? reg.worker_id),
      ackKey: reg.ack_key,
      upstreamTimeoutMs,
      leaseTtlMs: ttl,
    };
    this.gate.reset({
      workerId: reg.worker_id,
      leaseTtlMs: ttl,
      marginMs: margin,
      jumpThresholdMs: this.opts.jumpThresholdMs ?? defaultJumpThreshold(margin),
    });
    this.enforce();
    const { ack_key: _secret, ...visible } = reg;
    this.log('info', 'registered', {
      worker_id: reg.worker_id,
      lease_ttl_ms: ttl,
      margin_ms: margin,
      upstream_timeout_ms: upstreamTimeoutMs,
    });
    sendJson(res, up.status, { ...visible, proxy_pid: process.pid });
  }

  private async heartbeat(workerId: string, body: Buffer, res: http.ServerResponse): Promise<void> {
    const reg = this.registration;
    if (!reg || reg.workerId !== workerId)
      throw new DroverError('WORKER_UNKNOWN', 'heartbeat before register (through this proxy)');
    const hb = parseJson(body.toString('utf8')) as { seq?: unknown } | null;
    const seq = hb && typeof hb.seq === 'number' && Number.isSafeInteger(hb.seq) ? hb.seq : null;
    if (seq === null)
      throw new DroverError('VALIDATION', 'heartbeat: expected { seq: integer, tasks: [id] }');
    // The send time is taken BEFORE the heartbeat leaves: the window is counted from here.
    this.gate.onSend(seq, this.clock());
    let up: Upstream;
    try {
      up = await this.forwardToServer(
        'POST',
        `/api/v1/workers/${encodeURIComponent(workerId)}/heartbeat`,
        body,
        { 'content-type': 'application/json' },
        reg.leaseTtlMs,
      );
    } catch (e) {
      this.gate.onLoss(seq, this.clock());
      throw e;
    }
    if (up.status < 200 || up.status >= 300) {
      this.gate.onLoss(seq, this.clock());
      this.enforce();
      return sendRaw(res, up.status, up.headers, up.body);
    }
    const answer = parseJson(up.body.toString('utf8')) as { ack?: LeaseAck; sig?: unknown } | null;
    let outcome: string;
    if (!answer?.ack || typeof answer.sig !== 'string' || !verifyAck(reg.ackKey, answer.ack, answer.sig)) {
      // Whoever answered does not hold the key the scheduler gave us: not a lease.
      this.gate.onLoss(seq, this.clock());
      outcome = 'bad-signature';
      this.log('warn', 'ignored a heartbeat answer with a missing or bad ack signature', { seq });
    } else if (answer.ack.seq !== seq) {
      this.gate.onLoss(seq, this.clock());
      outcome = 'seq-mismatch';
    } else {
      outcome = this.gate.onAck(answer.ack, this.clock());
    }
    this.enforce();
    sendJson(res, up.status, { ...(answer ?? {}), proxy: { ack: outcome, ...this.leaseSummary() } });
  }

  private leaseSummary(): { lease_remaining_ms: number | null } {
    const until = this.gate.validUntil();
    return { lease_remaining_ms: until === null ? null : Math.max(0, Math.round(until - this.clock().mono)) };
  }

  // ---- task endpoints ----------------------------------------------------------------------------

  private async openEndpoint(
    taskId: string,
    token: string,
    transport: TaskTransport,
  ): Promise<TaskEndpointInfo> {
    if (this.closed) throw new DroverError('INTERNAL', 'the proxy is shutting down');
    const id = randomBytes(9).toString('base64url');
    const server = http.createServer();
    let info: TaskEndpointInfo;
    if (transport === 'unix') {
      // Each task's socket in its own directory, so a sandbox can bind exactly that directory.
      const socketDir = path.join(this.opts.dir, `t-${id}`);
      mkdirSync(socketDir, { mode: 0o700 });
      const socket = path.join(socketDir, 'proxy.sock');
      await listen(server, socket);
      info = { task_id: taskId, token, socket, socket_dir: socketDir };
    } else {
      await listen(server, { host: '127.0.0.1', port: 0 });
      info = { task_id: taskId, token, port: (server.address() as AddressInfo).port };
    }
    const ep: TaskEndpoint = {
      id,
      taskId,
      token,
      server,
      info,
      inflight: new Map(),
      pools: newPools(),
      refusing: null,
    };
    server.on('request', (req, res) => {
      this.handleTask(ep, req, res).catch((e: unknown) => this.fail(res, e));
    });
    this.endpoints.set(id, ep);
    this.log('info', 'task endpoint opened', { task_id: taskId, token, transport });
    return info;
  }

  private async closeEndpoint(ep: TaskEndpoint): Promise<void> {
    this.endpoints.delete(ep.id);
    this.cut(ep, 'closed');
    ep.server.closeAllConnections();
    await new Promise<void>((resolve) => ep.server.close(() => resolve()));
    if (ep.info.socket_dir) rmSync(ep.info.socket_dir, { recursive: true, force: true });
  }

  private async handleTask(
    ep: TaskEndpoint,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const target = this.resolveTarget(req);
    if (!this.admit(ep, res)) return;
    // The body's bytes as they came: signed and sent unchanged (a task may send any content type).
    const body = await readBody(req, MAX_BODY_BYTES);

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || STRIPPED_REQUEST.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    // The lease may have ended while the body arrived: decide again, with the token we sign. From here
    // to the bytes leaving there is no await (signing is synchronous), so this decision is the last word.
    const d = this.gate.isValid(ep.taskId, this.clock(), ep.token);
    if (!d.ok) return this.refuse(ep, res, d.reason);
    headers['drover-fence'] = `${ep.taskId}:${d.token}`;
    headers['drover-worker'] = this.registration?.name ?? '';
    let out: Record<string, string>;
    if (target.origin === this.serverUrl.origin) {
      out = { ...headers, host: target.host, authorization: `Bearer ${this.opts.token}` };
    } else if (this.opts.credentials) {
      out = signRequestSync({ method, url: target, headers, body }, this.opts.credentials);
    } else {
      if (!this.warnedUnsigned)
        this.log('warn', 'no simulator credentials: calls to other destinations go out unsigned');
      this.warnedUnsigned = true;
      out = { ...headers, host: target.host };
    }
    if (body.length > 0) out['content-length'] = String(body.length);
    this.sendUpstream(ep, method, target, out, body, res);
  }

  /** The real destination: `Drover-Target-Url`, else an absolute-form request line, else the server. */
  private resolveTarget(req: http.IncomingMessage): URL {
    const header = req.headers['drover-target-url'];
    const raw = typeof header === 'string' && header !== '' ? header : (req.url ?? '/');
    let url: URL;
    try {
      // A relative path means the Drover server (the task's spec, events, state routes).
      url = raw.startsWith('/') ? new URL(raw, this.serverUrl) : new URL(raw);
    } catch {
      throw new DroverError('VALIDATION', `not a URL: ${raw.slice(0, 200)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new DroverError('VALIDATION', `unsupported scheme ${url.protocol}`);
    return url;
  }

  /** True when the task may send now; otherwise answers 403 and cuts the task's open calls. */
  private admit(ep: TaskEndpoint, res: http.ServerResponse): boolean {
    const d = this.gate.isValid(ep.taskId, this.clock(), ep.token);
    if (d.ok) {
      if (ep.refusing) this.log('info', 'lease valid again: letting calls out', { task_id: ep.taskId });
      ep.refusing = null;
      return true;
    }
    this.refuse(ep, res, d.reason);
    return false;
  }

  private refuse(ep: TaskEndpoint, res: http.ServerResponse, reason: Refusal): void {
    if (ep.refusing !== reason)
      this.log('warn', 'lease not valid: refusing calls', { task_id: ep.taskId, reason });
    ep.refusing = reason;
    this.cut(ep, reason);
    sendError(
      res,
      'LEASE_EXPIRED',
      `the lease of task ${ep.taskId} is not valid (${reason}); the call was refused`,
      { task_id: ep.taskId, reason },
    );
  }

  private sendUpstream(
    ep: TaskEndpoint,
    method: string,
    target: URL,
    headers: Record<string, string>,
    body: Buffer,
    res: http.ServerResponse,
  ): void {
    const timeoutMs = this.registration?.upstreamTimeoutMs ?? FALLBACK_UPSTREAM_TIMEOUT_MS;
    const isHttps = target.protocol === 'https:';
    // The task's own pool: cut() destroys the call, and the pool's sockets with it.
    const up = (isHttps ? https : http).request({
      protocol: target.protocol,
      hostname: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
      port: target.port === '' ? undefined : Number(target.port),
      path: target.pathname + target.search,
      method,
      headers,
      agent: isHttps ? ep.pools.https : ep.pools.http,
    });
    ep.pools.used = true;
    ep.inflight.set(up, res);
    const timer = setTimeout(() => up.destroy(new UpstreamCut('timeout')), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      ep.inflight.delete(up);
    };
    up.on('response', (upRes) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upRes.headers))
        if (v !== undefined && !STRIPPED_RESPONSE.has(k)) out[k] = v;
      upRes.on('error', () => {
        done();
        res.destroy();
      });
      const length = Number(upRes.headers['content-length']);
      if (length >= 0 && length <= SMALL_RESPONSE_BYTES) {
        // A small answer of known length (nearly every API answer) is gathered and sent in one write
        // with its headers: a stream pipe's listeners and a write per chunk cost more than the bytes.
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          done();
          res.writeHead(upRes.statusCode ?? 502, out);
          res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        });
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, out);
      upRes.pipe(res);
      upRes.on('end', done);
    });
    up.on('error', (err) => {
      done();
      if (res.headersSent) return void res.destroy();
      if (err instanceof UpstreamCut && err.reason !== 'timeout') {
        return sendError(
          res,
          'LEASE_EXPIRED',
          `the lease of task ${ep.taskId} ended during the call (${err.reason}); the call was cut`,
          { task_id: ep.taskId, reason: err.reason },
        );
      }
      const timedOut = err instanceof UpstreamCut;
      const e = new DroverError(
        'UPSTREAM_UNREACHABLE',
        timedOut
          ? `no answer from ${target.origin} within ${timeoutMs} ms`
          : `${target.origin}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
      );
      // The header tells the task's client that no response was had (a TransientError), not an answer.
      res.setHeader(PROXY_ERROR_HEADER, 'upstream-unreachable');
      sendJson(res, timedOut ? 504 : 502, e.toJSON());
    });
    res.on('close', () => {
      // The task went away mid-call: do not leave its request running on its behalf.
      if (!res.writableFinished) up.destroy(new UpstreamCut('client-gone'));
    });
    up.end(body.length === 0 ? undefined : body);
  }

  /** Destroys every upstream call of a task now, and every upstream socket it has open (idle ones too). */
  private cut(ep: TaskEndpoint, reason: string): void {
    if (ep.inflight.size > 0) {
      this.log('warn', 'cutting open upstream calls', {
        task_id: ep.taskId,
        count: ep.inflight.size,
        reason,
      });
      // First the calls, each with the reason (their error handlers answer LEASE_EXPIRED from it)…
      for (const up of [...ep.inflight.keys()]) up.destroy(new UpstreamCut(reason));
    }
    // …then the pools: whatever sockets are left (idle keep-alive ones) are closed, and the next call,
    // once a lease is valid again, opens a fresh connection.
    if (ep.pools.used) {
      destroyPools(ep.pools);
      ep.pools = newPools();
    }
  }

  /** Runs on every tick and at the lease's end: clock-jump check, and cut whatever may no longer run. */
  private enforce(): void {
    if (this.closed) return;
    const t = this.clock();
    this.gate.check(t);
    for (const ep of this.endpoints.values()) {
      if (ep.inflight.size === 0 && !ep.pools.used) continue;
      const d = this.gate.isValid(ep.taskId, t, ep.token);
      if (!d.ok) {
        ep.refusing = d.reason;
        this.cut(ep, d.reason);
      }
    }
    // A precise wake-up at the lease's end, so a call does not outlive it by up to one tick.
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const until = this.gate.validUntil();
    if (until !== null && until > t.mono) {
      this.expiryTimer = setTimeout(() => this.enforce(), Math.ceil(until - t.mono) + 1);
      this.expiryTimer.unref();
    }
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  private forwardToServer(
    method: string,
    pathAndQuery: string,
    body: Buffer,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<Upstream> {
    const target = new URL(pathAndQuery, this.serverUrl);
    return new Promise<Upstream>((resolve, reject) => {
      const isHttps = target.protocol === 'https:';
      const req = (isHttps ? https : http).request({
        protocol: target.protocol,
        hostname: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
        port: target.port === '' ? undefined : Number(target.port),
        path: target.pathname + target.search,
        method,
        headers: {
          ...headers,
          accept: 'application/json',
          authorization: `Bearer ${this.opts.token}`,
          ...(body.length ? { 'content-length': String(body.length) } : {}),
        },
        agent: false,
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new DroverError('SERVER_UNREACHABLE', `${this.serverUrl.origin}: ${e.code ?? e.message}`));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(new DroverError('SERVER_UNREACHABLE', `${this.serverUrl.origin}: answer cut: ${e.message}`));
        });
        res.on('end', () => {
          clearTimeout(timer);
          const h: Record<string, string> = {};
          const ct = res.headers['content-type'];
          if (ct) h['content-type'] = ct;
          resolve({ status: res.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
        });
      });
      req.end(body.length ? body : undefined);
    });
  }

  private fail(res: http.ServerResponse, e: unknown): void {
    const err =
      e instanceof DroverError ? e : new DroverError('INTERNAL', e instanceof Error ? e.message : String(e));
    if (err.code === 'INTERNAL') this.log('error', 'proxy error', { message: err.message });
    if (res.headersSent) return void res.destroy();
    sendJson(res, err.status, err.toJSON());
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, fields);
  }
}

interface Upstream {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

interface UpstreamPools {
  readonly http: http.Agent;
  readonly https: https.Agent;
  /** Set once a call went through these pools (so a cut knows there may be sockets to close). */
  used: boolean;
}

function newPools(): UpstreamPools {
  // Idle sockets are closed after a while by us too, not only by the server (a task may pause calling).
  const opts = { keepAlive: true, timeout: 30_000, scheduling: 'lifo' as const };
  return { http: new http.Agent(opts), https: new https.Agent(opts), used: false };
}

function destroyPools(p: UpstreamPools): void {
  p.http.destroy();
  p.https.destroy();
}

class UpstreamCut extends Error {
  constructor(readonly reason: string) {
    super(`upstream call cut: ${reason}`);
  }
}

function positive(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fallback;
}

function listen(server: http.Server, where: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (typeof where === 'string') server.listen(where, done);
    else server.listen(where.port, where.host, done);
  });
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new DroverError('VALIDATION', `request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(text: string | Buffer): unknown {
  try {
    return JSON.parse(text.toString()) as unknown;
  } catch {
    throw new DroverError('VALIDATION', 'the body is not valid JSON');
  }
}

function pickHeaders(req: http.IncomingMessage, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = req.headers[n];
    if (typeof v === 'string') out[n] = v;
  }
  return out;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendRaw(
  res: http.ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: Buffer,
): void {
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(body);
}

function sendError(
  res: http.ServerResponse,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown>,
): void {
  if (res.headersSent) return void res.destroy();
  const err = new DroverError(code, message, { details });
  res.setHeader(PROXY_ERROR_HEADER, code === 'LEASE_EXPIRED' ? 'lease-expired' : code.toLowerCase());
  sendJson(res, err.status, err.toJSON());
}
