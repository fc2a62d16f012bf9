/**
 * @module cli/commands/delegate — `drover sim`, `drover server`, `drover worker`: long-running processes
 * whose own modules parse their flags. They are imported lazily so local commands start fast and a build
 * without one of them still runs the others.
 */
import { DroverError } from '../../errors.ts';

export type DelegatedCommand = 'sim' | 'server' | 'worker';

/** Where each lives and which function it exports (each takes the argv after the command name). */
const MODULES = {
  sim: { path: '../../sim/main.ts', fn: 'runSimCli', what: 'the region simulator' },
  server: { path: '../../server/index.ts', fn: 'runServerCli', what: 'the Drover server' },
  worker: { path: '../../worker/main.ts', fn: 'runWorkerCli', what: 'the worker daemon' },
} as const satisfies Record<DelegatedCommand, { path: string; fn: string; what: string }>;

type Runner = (argv: string[]) => Promise<number | void> | number | void;

/**
 * Runs the command. Resolves with an exit code when the command finished, or undefined when it keeps
 * running in the background (a server listening): then the caller must not exit the process.
 */
export async function runDelegated(name: DelegatedCommand, argv: string[]): Promise<number | undefined> {
  const spec = MODULES[name];
  let mod: Record<string, unknown>;
  try {
    // A variable specifier: the module may be absent from a build, which must not break the CLI's loading.
    const path: string = spec.path;
    mod = (await import(path)) as Record<string, unknown>;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const file = spec.path.split('/').slice(-2).join('/');
    if (err.code === 'ERR_MODULE_NOT_FOUND' && (err.message ?? '').includes(file)) {
      throw new DroverError(
        'INTERNAL',
        `drover ${name} (${spec.what}) is not available in this build: ${file} is missing`,
      );
    }
    throw e;
  }
  const run = mod[spec.fn];
  if (typeof run !== 'function') {
    throw new DroverError(
      'INTERNAL',
      `drover ${name} is not available in this build: ${spec.fn} is not exported`,
    );
  }
  const code = await (run as Runner)(argv);
  return typeof code === 'number' ? code : undefined;
}
