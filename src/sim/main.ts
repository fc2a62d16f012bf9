/**
 * @module sim/main — `drover sim`: runs the simulator in the foreground until SIGINT / SIGTERM.
 *
 * Also runnable on its own (`npx tsx src/sim/main.ts --port 0 --json`), so tests and benchmarks can start
 * it as a separate process: with `--json` the first stdout line is `{"url","port",…}` and nothing else
 * goes to stdout.
 */
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DroverError, isDroverError } from '../errors.ts';
import { parseKeyList } from '../signing/index.ts';
import type { OutageWindow } from './options.ts';
import { startSim } from './server.ts';

export const SIM_USAGE = `usage: drover sim [--port 7900] [--host 127.0.0.1] [--latency MS] [--jitter MS] [--error-rate R]
                 [--provision-ms MS] [--outage START_S:DURATION_S]... [--seed N] [--json]`;

export interface SimCliIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolves when the simulator should stop (default: SIGINT or SIGTERM). */
  readonly stopSignal?: Promise<unknown>;
}

function num(
  flag: string,
  text: string | undefined,
  dflt: number,
  opts: { int?: boolean; max?: number } = {},
): number {
  if (text === undefined) return dflt;
  const v = Number(text);
  if (
    text.trim() === '' ||
    !Number.isFinite(v) ||
    v < 0 ||
    (opts.int && !Number.isInteger(v)) ||
    (opts.max !== undefined && v > opts.max)
  ) {
    throw new DroverError(
      'USAGE',
      `--${flag}: expected ${opts.int ? 'an integer' : 'a number'} >= 0${opts.max !== undefined ? ` and <= ${opts.max}` : ''}, got "${text}"\n${SIM_USAGE}`,
    );
  }
  return v;
}

function parseOutage(text: string): OutageWindow {
  const m = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(text);
  if (!m)
    throw new DroverError(
      'USAGE',
      `--outage: expected START_S:DURATION_S (seconds after start), got "${text}"\n${SIM_USAGE}`,
    );
  return { startS: Number(m[1]), durationS: Number(m[2]) };
}

/** Keys from DROVER_SIM_KEYS and/or DROVER_SIM_ACCESS_KEY + DROVER_SIM_SECRET_KEY; empty if none. */
export function keysFromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const keys = env['DROVER_SIM_KEYS'] ? parseKeyList(env['DROVER_SIM_KEYS']) : {};
  const ak = env['DROVER_SIM_ACCESS_KEY']?.trim();
  const sk = env['DROVER_SIM_SECRET_KEY']?.trim();
  if (ak && sk) keys[ak] = sk;
  else if (ak || sk)
    throw new DroverError(
      'CREDENTIALS_MISSING',
      `set both DROVER_SIM_ACCESS_KEY and DROVER_SIM_SECRET_KEY (only ${ak ? 'the access key' : 'the secret'} is set)`,
    );
  return keys;
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * Runs the simulator until stopped. `argv` are the arguments after `sim`. Throws DroverError (USAGE,
 * CREDENTIALS_MISSING) on bad flags or keys, before anything listens. Resolves with exit code 0.
 */
export async function runSimCli(argv: readonly string[], io: Partial<SimCliIo> = {}): Promise<number> {
  const out = io.stdout ?? ((l: string) => void process.stdout.write(`${l}\n`));
  const err = io.stderr ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const env = io.env ?? process.env;
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        latency: { type: 'string' },
        jitter: { type: 'string' },
        'error-rate': { type: 'string' },
        'provision-ms': { type: 'string' },
        outage: { type: 'string', multiple: true },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new DroverError('USAGE', `${(e as Error).message}\n${SIM_USAGE}`);
  }
  if (values.help) {
    out(SIM_USAGE);
    return 0;
  }
  const json = values.json === true;
  // With --json, stdout carries only the one JSON line; people-facing text goes to stderr.
  const say = json ? err : out;
  let keys = keysFromEnv(env);
  let generated: { accessKeyId: string; secretAccessKey: string } | undefined;
  if (Object.keys(keys).length === 0) {
    generated = {
      accessKeyId: `AKSIM${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(24).toString('base64url'),
    };
    keys = { [generated.accessKeyId]: generated.secretAccessKey };
  }
  const sim = await startSim({
    port: num('port', values.port, 7900, { int: true, max: 65535 }),
    host: values.host ?? '127.0.0.1',
    latencyMs: num('latency', values.latency, 0),
    jitterMs: num('jitter', values.jitter, 0),
    errorRate: num('error-rate', values['error-rate'], 0, { max: 1 }),
    provisionMs: num('provision-ms', values['provision-ms'], 0),
    outages: (values.outage ?? []).map(parseOutage),
    ...(values.seed === undefined ? {} : { seed: num('seed', values.seed, 0, { int: true }) }),
    keys,
  });
  if (json) out(JSON.stringify({ url: sim.url, port: sim.port, pid: process.pid, ...(generated ?? {}) }));
  say(`drover sim listening on ${sim.url}`);
  if (generated) {
    say('No DROVER_SIM_ACCESS_KEY / DROVER_SIM_SECRET_KEY set; generated a key pair for this run:');
    say(`  export DROVER_SIM_ACCESS_KEY=${generated.accessKeyId}`);
    say(`  export DROVER_SIM_SECRET_KEY=${generated.secretAccessKey}`);
  }
  say(`  export DROVER_SIM_URL=${sim.url}`);
  await (io.stopSignal ?? waitForSignal());
  await sim.close();
  say('drover sim stopped');
  return 0;
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  runSimCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const de = isDroverError(e) ? e : null;
      process.stderr.write(
        `drover sim: ${de ? `${de.code}: ${de.message}` : e instanceof Error ? e.message : String(e)}\n`,
      );
      process.exit(de ? de.exitCode : 1);
    },
  );
}
