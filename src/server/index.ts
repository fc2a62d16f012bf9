/**
 * @module server — `drover server`: the store, the regional scheduler and the HTTP API in one process
 * (SPEC.md §5, §8). `startServer` is the programmatic entry (tests use port 0); `runServerCli` parses
 * `drover server [--data-dir DIR] [--database-url URL] [--port 7800] [--host H] [--workers N]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp, type AppOptions } from '../api/app.ts';
import { audit } from '../api/audit.ts';
import { Authenticator, mintToken } from '../api/auth.ts';
import { DroverError } from '../errors.ts';
import type { Logger } from '../providers/types.ts';
import type { Role } from '../scheduler/protocol.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { resolveTiming, type Timing } from '../scheduler/timing.ts';
import { openStore, resolveStoreOptions } from '../store/index.ts';
import { DEFAULT_DATA_DIR } from '../store/pglite-db.ts';
import type { Db } from '../store/types.ts';
import { ensureAdminToken } from './admin-token.ts';

export const DEFAULT_PORT = 7800;
export const DEFAULT_HOST = '127.0.0.1';

export interface ServerOptions {
  /** Data directory (PGlite store unless databaseUrl; admin.token). Default ./.drover. */
  readonly dataDir?: string;
  /** postgres:// URL; default DATABASE_URL; else PGlite in dataDir. */
  readonly databaseUrl?: string;
  /** Default 7800; 0 picks a free port. */
  readonly port?: number;
  readonly host?: string;
  readonly timing?: Partial<Timing>;
  /** A Logger, or false for silence (default: JSON lines on stderr). */
  readonly log?: Logger | false;
  /** Called once with the admin token when it is created (the CLI prints it). */
  readonly onAdminTokenCreated?: (token: string, file: string) => void;
  /** Assignments a task may lose to dead workers before it fails (default 5). */
  readonly maxAttempts?: number;
  /** Extra routes from other parts of the server. */
  readonly plugins?: AppOptions['plugins'];
  /** An open store to use instead of opening one (tests; several schedulers on one database). It is
   * migrated by the caller and not closed by close(). dataDir then only holds admin.token. */
  readonly db?: Db;
  /** Environment used for DATABASE_URL and timing variables (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly adminToken: string;
  readonly db: Db;
  readonly scheduler: Scheduler;
  readonly app: FastifyInstance;
  readonly timing: Timing;
  /** Mints a bearer token (workers for --workers N and tests). */
  mintToken(role: Role, name: string): Promise<string>;
  /** Stops accepting requests, stops the scheduler, closes the store. Idempotent. */
  close(): Promise<void>;
}

/** A Logger over pino, JSON lines on stderr. */
export function jsonLogger(name = 'server'): Logger {
  const p = pino(
    { base: { component: name, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination(2),
  );
  return {
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
  };
}

const SILENT: Logger = { info() {}, warn() {}, error() {} };

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const env = opts.env ?? process.env;
  const log = opts.log === false ? SILENT : (opts.log ?? jsonLogger());
  let timing: Timing;
  try {
    timing = resolveTiming(opts.timing ?? {}, env);
  } catch (e) {
    throw new DroverError('USAGE', (e as Error).message);
  }
  const dataDir = opts.dataDir ?? DEFAULT_DATA_DIR;
  const storeOpts = resolveStoreOptions({ databaseUrl: opts.databaseUrl, dataDir }, env);
  const ownDb = opts.db === undefined;
  const db = opts.db ?? (await openStore(storeOpts));
  let scheduler: Scheduler | undefined;
  let app: FastifyInstance | undefined;
  try {
    const admin = await ensureAdminToken(db, dataDir);
    if (admin.created) opts.onAdminTokenCreated?.(admin.token, admin.file);
    scheduler = new Scheduler({
      db,
      timing,
      log,
      audit,
      ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    });
    await scheduler.start();
    app = await buildApp(
      { db, scheduler, auth: new Authenticator(db) },
      { log, ...(opts.plugins ? { plugins: opts.plugins } : {}) },
    );
    const host = opts.host ?? DEFAULT_HOST;
    try {
      await app.listen({ port: opts.port ?? DEFAULT_PORT, host });
    } catch (e) {
      throw new DroverError(
        'USAGE',
        `cannot listen on ${host}:${opts.port ?? DEFAULT_PORT}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const port = (app.server.address() as AddressInfo).port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    log.info('drover server listening', { url, store: db.kind });
    let closing: Promise<void> | undefined;
    const s = scheduler;
    const a = app;
    return {
      url,
      port,
      adminToken: admin.token,
      db,
      scheduler: s,
      app: a,
      timing,
      async mintToken(role, name) {
        return db.transaction(async (tx) => {
          const m = await mintToken(tx, role, name);
          await audit(tx, 'system', 'token.create', m.id, { role, name });
          return m.token;
        });
      },
      close() {
        closing ??= (async () => {
          await s.stop();
          await a.close();
          if (ownDb) await db.close();
        })();
        return closing;
      },
    };
  } catch (e) {
    await scheduler?.stop().catch(() => {});
    await app?.close().catch(() => {});
    if (ownDb) await db.close().catch(() => {});
    throw e;
  }
}

// ---- drover server ----------------------------------------------------------------------------------

const require = createRequire(import.meta.url);

/** node argv that runs the `drover` CLI from this build (tsx loader for sources, plain for dist/). */
function cliArgs(): string[] {
  const self = import.meta.url;
  const file = fileURLToPath(new URL(self.endsWith('.js') ? '../cli/main.js' : '../cli/main.ts', self));
  return file.endsWith('.ts') ? ['--import', pathToFileURL(require.resolve('tsx')).href, file] : [file];
}

function intFlag(raw: string | undefined, name: string, dflt: number, min: number): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > 65535)
    throw new DroverError('USAGE', `${name} must be an integer ≥ ${min}, got '${raw}'`);
  return n;
}

/** Spawns N `drover worker` processes with worker tokens of their own; they die with the server. */
async function spawnWorkers(server: RunningServer, n: number, log: Logger): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  for (let i = 1; i <= n; i++) {
    const name = `worker-${i}`;
    const token = await server.mintToken('worker', name);
    const child = spawn(process.execPath, [...cliArgs(), 'worker', '--server', server.url, '--name', name], {
      env: { ...process.env, DROVER_TOKEN: token, DROVER_SERVER: server.url },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('exit', (code, signal) =>
      log.warn('worker process exited', { name, pid: child.pid, code, signal }),
    );
    children.push(child);
  }
  return children;
}

/**
 * `drover server …` (argv after `server`). Resolves once listening (the server keeps the process alive);
 * SIGTERM / SIGINT close it cleanly and exit 0. Bad flags throw USAGE (exit 2).
 */
export async function runServerCli(argv: string[]): Promise<number | void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        workers: { type: 'string' },
        'sftp-port': { type: 'string' },
        demo: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new DroverError('USAGE', (e as Error).message);
  }
  if (values['help']) {
    process.stdout.write(
      'usage: drover server [--data-dir DIR] [--database-url URL] [--port 7800] [--host 127.0.0.1] [--workers N]\n' +
        '  lease timing from DROVER_HEARTBEAT_MS, DROVER_LEASE_TTL_MS, DROVER_LEASE_GRACE_MS, DROVER_PROXY_MARGIN_MS\n',
    );
    return 0;
  }
  const port = intFlag(values['port'] as string | undefined, '--port', DEFAULT_PORT, 0);
  const workers = intFlag(values['workers'] as string | undefined, '--workers', 0, 0);
  const log = jsonLogger();
  const server = await startServer({
    ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] as string } : {}),
    ...(values['database-url'] !== undefined ? { databaseUrl: values['database-url'] as string } : {}),
    ...(values['host'] !== undefined ? { host: values['host'] as string } : {}),
    port,
    log,
    onAdminTokenCreated: (token, file) => {
      process.stdout.write(`admin token (shown once; also in ${file}):\n${token}\n`);
    },
  });
  process.stdout.write(`drover server listening on ${server.url}\n`);
  const children = workers > 0 ? await spawnWorkers(server, workers, log) : [];
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    const hard = setTimeout(() => process.exit(1), 10_000);
    hard.unref();
    void server
      .close()
      .then(() => process.exit(0))
      .catch((e: unknown) => {
        log.error('shutdown failed', { error: (e as Error).message });
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return undefined;
}
