/**
 * @module worker/proxy-process — starts the worker's signing proxy as its own process and talks to its
 * control socket. The proxy's secrets go down its stdin (one JSON line), never argv or environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { DroverError } from '../errors.ts';
import type { ProxyBootConfig } from '../proxy/main.ts';
import { nodeArgsFor } from './launch.ts';

export interface ProxyProcess {
  readonly pid: number;
  readonly controlSocket: string;
  readonly child: ChildProcess;
  /** Closes the proxy's lifeline (stdin) and waits for it to exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface ControlAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** Starts `src/proxy/main.ts` and waits for its ready line. Its stderr (JSON logs) is inherited. */
export async function startProxyProcess(
  boot: ProxyBootConfig,
  opts: { readonly readyTimeoutMs?: number } = {},
): Promise<ProxyProcess> {
  // Only what Node needs: the proxy's credentials come on stdin, and it must not inherit the worker's.
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  const child = spawn(process.execPath, nodeArgsFor(import.meta.url, '../proxy/main.ts'), {
    stdio: ['pipe', 'pipe', 'inherit'],
    env,
  });
  child.stdin?.write(`${JSON.stringify(boot)}\n`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ control: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new DroverError('INTERNAL', 'the signing proxy did not start in time'));
    }, opts.readyTimeoutMs ?? 30_000);
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        const v = JSON.parse(line) as { ready?: boolean; control?: string; pid?: number };
        if (v.ready && typeof v.control === 'string')
          resolve({ control: v.control, pid: v.pid ?? child.pid ?? 0 });
        else reject(new DroverError('INTERNAL', `the signing proxy said: ${line}`));
      } catch {
        reject(new DroverError('INTERNAL', `the signing proxy said: ${line}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new DroverError('INTERNAL', `the signing proxy exited at start (code ${code}, signal ${signal})`),
      );
    });
  });
  return {
    pid: ready.pid,
    controlSocket: ready.control,
    child,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One JSON request to a unix-socket HTTP endpoint (the proxy's control socket). Throws only when no answer. */
export function controlRequest(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { readonly headers?: Record<string, string>; readonly timeoutMs?: number } = {},
): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = http.request({
      socketPath,
      method,
      path,
      headers: {
        accept: 'application/json',
        ...(text
          ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }
          : {}),
        ...opts.headers,
      },
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)),
      opts.timeoutMs ?? 30_000,
    );
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(new DroverError('SERVER_UNREACHABLE', `${method} ${path} via the proxy: ${e.message}`));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(new DroverError('SERVER_UNREACHABLE', `${method} ${path} via the proxy: ${e.message}`));
      });
      res.on('end', () => {
        clearTimeout(timer);
        const raw = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = raw;
        try {
          parsed = raw === '' ? null : (JSON.parse(raw) as unknown);
        } catch {
          /* not JSON: keep the text */
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
        resolve({ status: res.statusCode ?? 0, headers, body: parsed });
      });
    });
    req.end(text || undefined);
  });
}
