/**
 * @module worker/main — `drover worker --server URL [--capacity N] [--name NAME] [--token T]` (SPEC.md §8).
 *
 * Reads the simulator credentials from DROVER_SIM_ACCESS_KEY / DROVER_SIM_SECRET_KEY and hands them to its
 * signing proxy only (on the proxy's stdin); tasks get neither them nor the worker token.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DroverError, toDroverError } from '../errors.ts';
import { credentialsFromEnv, type Credentials } from '../signing/index.ts';
import type { SandboxMode } from './sandbox.ts';
import { Worker } from './worker.ts';

const USAGE =
  'usage: drover worker --server URL [--capacity N] [--name NAME] [--token T] [--work-dir DIR] [--sandbox auto|bwrap|none] [--keep-staging]';

/** Parses flags (a leading `worker` is skipped), runs until SIGTERM / SIGINT, and resolves the exit code. */
export async function runWorkerCli(argv: readonly string[]): Promise<number> {
  const args = argv[0] === 'worker' ? argv.slice(1) : [...argv];
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      options: {
        server: { type: 'string' },
        capacity: { type: 'string' },
        name: { type: 'string' },
        token: { type: 'string' },
        'work-dir': { type: 'string' },
        sandbox: { type: 'string' },
        'keep-staging': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    throw new DroverError('USAGE', `${(e as Error).message}\n${USAGE}`);
  }
  if (values['help']) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const server =
    (values['server'] as string | undefined) ?? process.env['DROVER_SERVER'] ?? 'http://127.0.0.1:7800';
  try {
    new URL(server);
  } catch {
    throw new DroverError('USAGE', `--server: not a URL: ${server}`);
  }
  const token = (values['token'] as string | undefined) ?? process.env['DROVER_TOKEN'];
  if (!token)
    throw new DroverError('USAGE', `a worker token is required (--token or DROVER_TOKEN)\n${USAGE}`);
  const capacity = values['capacity'] === undefined ? 1 : Number(values['capacity']);
  if (!Number.isInteger(capacity) || capacity < 1)
    throw new DroverError(
      'USAGE',
      `--capacity must be a positive integer, got ${String(values['capacity'])}`,
    );
  const sandbox = (values['sandbox'] as string | undefined) ?? 'auto';
  if (sandbox !== 'auto' && sandbox !== 'bwrap' && sandbox !== 'none')
    throw new DroverError('USAGE', `--sandbox must be auto, bwrap or none, got ${sandbox}`);

  let credentials: Credentials | null = null;
  try {
    credentials = credentialsFromEnv();
  } catch {
    process.stderr.write(
      `${JSON.stringify({ level: 'warn', component: 'worker', msg: 'no DROVER_SIM_ACCESS_KEY / DROVER_SIM_SECRET_KEY: task calls to services will go out unsigned' })}\n`,
    );
  }
  // The keys are the proxy's now; nothing else this process starts should ever see them.
  delete process.env['DROVER_SIM_ACCESS_KEY'];
  delete process.env['DROVER_SIM_SECRET_KEY'];
  delete process.env['DROVER_TOKEN'];

  const taskEnv: Record<string, string> = {};
  const simUrl = process.env['DROVER_SIM_URL'];
  if (simUrl) taskEnv['DROVER_SIM_URL'] = simUrl;

  const worker = new Worker({
    serverUrl: server,
    token,
    capacity,
    credentials,
    sandbox: sandbox as SandboxMode,
    taskEnv,
    keepStaging: values['keep-staging'] === true,
    ...(values['name'] ? { name: values['name'] as string } : {}),
    ...(values['work-dir'] ? { workDir: path.resolve(values['work-dir'] as string) } : {}),
  });
  await worker.start();
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      worker.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  runWorkerCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const err = toDroverError(e);
      process.stderr.write(`drover worker: ${err.message}\n`);
      process.exit(err.exitCode);
    },
  );
}
