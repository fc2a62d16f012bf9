/**
 * @module proxy/main — the signing proxy as its own process (SPEC.md §5), started by its worker.
 *
 * Its secrets (the worker token, the simulator credentials) arrive as ONE JSON line on stdin — never on
 * argv (visible in `ps`) nor in the environment (inherited by children, readable in /proc). It answers
 * with one JSON line on stdout, `{"ready":true,"control":SOCKET,"pid":N}`, then logs JSON lines to stderr.
 * stdin stays open as the worker's lifeline: when it closes (the worker exited or was killed), the proxy
 * cuts every call, removes its sockets and exits — nothing can leave for a worker that is gone.
 */
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { DroverError, toDroverError } from '../errors.ts';
import { SigningProxy } from './proxy-server.ts';

/** The stdin line. */
export interface ProxyBootConfig {
  readonly server_url: string;
  readonly token: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string } | null;
  /** Private directory (created 0700) for the control socket and the task sockets. */
  readonly dir: string;
  readonly tick_ms?: number;
  readonly jump_threshold_ms?: number;
}

function log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, component: 'proxy', pid: process.pid, msg, ...fields })}\n`,
  );
}

function parseBoot(line: string): ProxyBootConfig {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new DroverError('USAGE', 'proxy: the first stdin line must be the JSON boot config');
  }
  const c = v as Partial<ProxyBootConfig> | null;
  if (!c || typeof c.server_url !== 'string' || typeof c.token !== 'string' || typeof c.dir !== 'string') {
    throw new DroverError('USAGE', 'proxy: boot config needs server_url, token and dir');
  }
  const creds = c.credentials;
  if (creds != null && (typeof creds.accessKeyId !== 'string' || typeof creds.secretAccessKey !== 'string')) {
    throw new DroverError('USAGE', 'proxy: credentials must be { accessKeyId, secretAccessKey }');
  }
  return c as ProxyBootConfig;
}

export async function runProxyMain(): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new DroverError('USAGE', 'proxy: stdin closed before the boot config');
  const boot = parseBoot(first.value);
  const proxy = new SigningProxy({
    serverUrl: boot.server_url,
    token: boot.token,
    ...(boot.credentials ? { credentials: boot.credentials } : {}),
    dir: boot.dir,
    ...(boot.tick_ms ? { tickMs: boot.tick_ms } : {}),
    ...(boot.jump_threshold_ms ? { jumpThresholdMs: boot.jump_threshold_ms } : {}),
    log,
  });
  await proxy.start();
  process.stdout.write(
    `${JSON.stringify({ ready: true, control: proxy.controlSocket, pid: process.pid })}\n`,
  );

  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping', { why });
    proxy.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // The worker's lifeline: anything after the boot line is ignored; EOF means the worker is gone.
  lines.on('close', () => stop('stdin closed (worker gone)'));
  process.stdin.on('error', () => stop('stdin error'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  runProxyMain().catch((e: unknown) => {
    const err = toDroverError(e);
    log('error', err.message, { code: err.code });
    process.exit(err.exitCode);
  });
}
