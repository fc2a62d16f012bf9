/**
 * @module cli/program — the `drover` command line: commander wiring, and the one place that turns every
 * outcome into an exit code (SPEC §8: 0 ok, 1 failed, 2 invalid input or usage, 3 conflict).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../errors.ts';
import { collectArtifact, positiveInt } from './inputs.ts';
import { processIo, type CliIo } from './io.ts';
import { reportError } from './output.ts';
import { runApply } from './commands/apply.ts';
import { runDelegated, type DelegatedCommand } from './commands/delegate.ts';
import { runDestroy } from './commands/destroy.ts';
import { runPlan } from './commands/plan.ts';
import { runValidate } from './commands/validate.ts';
import { runWorkers } from './commands/workers.ts';
import type { RunFlags } from './run.ts';

const DELEGATED: ReadonlySet<string> = new Set<DelegatedCommand>(['sim', 'server', 'worker']);

function version(): string {
  try {
    // src/cli/ and dist/cli/ both sit two levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Raw commander options of plan/apply/destroy. */
interface RunOpts {
  target?: string;
  artifact: Record<string, string>;
  releaseId?: string;
  dataDir?: string;
  databaseUrl?: string;
  server?: string;
  token?: string;
  parallelism?: number;
}

function runFlags(dir: string, o: RunOpts): RunFlags {
  return {
    dir,
    artifacts: o.artifact,
    ...(o.target !== undefined ? { target: o.target } : {}),
    ...(o.releaseId !== undefined ? { releaseId: o.releaseId } : {}),
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.databaseUrl !== undefined ? { databaseUrl: o.databaseUrl } : {}),
    ...(o.server !== undefined ? { server: o.server } : {}),
    ...(o.token !== undefined ? { token: o.token } : {}),
    ...(o.parallelism !== undefined ? { parallelism: o.parallelism } : {}),
  };
}

function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--target <NAME>', 'the execution target (required)')
    .option(
      '--artifact <NAME=VERSION>',
      'version of a flock artifact for this release (repeatable)',
      collectArtifact,
      {},
    )
    .option('--release-id <ID>', 'release id (default: derived from the config and artifact versions)')
    .option('--data-dir <DIR>', 'local state directory (PGlite)', './.drover')
    .option('--database-url <URL>', 'PostgreSQL URL for state instead of PGlite (default: $DATABASE_URL)')
    .option('--server <URL>', 'run through a Drover server instead of locally')
    .option('--token <TOKEN>', 'bearer token for --server (default: $DROVER_TOKEN)');
}

/** Builds the program; `done(code)` receives each action's exit code. */
export function buildProgram(io: CliIo, done: (code: number) => void): Command {
  const program = new Command('drover');
  program
    .description('Drover: declarative flocks, planned and fenced releases, leased workers, tenant archives.')
    .version(version(), '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // Usage errors are printed by runCli in the CLI's own `error CODE: message` form.
      outputError: () => undefined,
    });

  program
    .command('validate')
    .description('parse and check a flock; print every problem with file:line:column')
    .argument('<DIR>', 'the flock directory (holds flock.yaml)')
    .option('--json', 'print a JSON summary')
    .action(async (dir: string, o: { json?: boolean }) =>
      done(await runValidate({ dir, json: o.json === true }, io)),
    );

  addRunOptions(program.command('plan'))
    .description('refresh and plan one target; changes nothing')
    .argument('<DIR>', 'the flock directory')
    .option('--out <FILE>', 'write the plan JSON to FILE (for apply --plan)')
    .option('--json', 'print the plan JSON instead of the readable diff')
    .option('--destroy', 'plan deletes for everything in state')
    .addOption(new Option('--parallelism <N>', 'refresh parallelism (default 10)').argParser(positiveInt))
    .action(async (dir: string, o: RunOpts & { out?: string; json?: boolean; destroy?: boolean }) =>
      done(
        await runPlan(
          {
            ...runFlags(dir, o),
            ...(o.out !== undefined ? { out: o.out } : {}),
            json: o.json === true,
            destroy: o.destroy === true,
          },
          io,
        ),
      ),
    );

  addRunOptions(program.command('apply'))
    .description('plan, confirm and apply one target (or apply a saved plan)')
    .argument('<DIR>', 'the flock directory')
    .option('--plan <FILE>', 'apply this saved plan (refused if stale)')
    .option('-y, --yes', 'apply without asking; approve drover.approval resources')
    .option('--json', 'print the result JSON')
    .addOption(new Option('--parallelism <N>', 'operations run at once (default 10)').argParser(positiveInt))
    .action(async (dir: string, o: RunOpts & { plan?: string; yes?: boolean; json?: boolean }) =>
      done(
        await runApply(
          {
            ...runFlags(dir, o),
            ...(o.plan !== undefined ? { plan: o.plan } : {}),
            yes: o.yes === true,
            json: o.json === true,
          },
          io,
        ),
      ),
    );

  addRunOptions(program.command('destroy'))
    .description('delete every resource in the target state')
    .argument('<DIR>', 'the flock directory')
    .option('-y, --yes', 'destroy without asking')
    .option('--json', 'print the result JSON')
    .addOption(new Option('--parallelism <N>', 'operations run at once (default 10)').argParser(positiveInt))
    .action(async (dir: string, o: RunOpts & { yes?: boolean; json?: boolean }) =>
      done(await runDestroy({ ...runFlags(dir, o), yes: o.yes === true, json: o.json === true }, io)),
    );

  program
    .command('workers')
    .description('list the worker fleet of a server, with lease state')
    .option('--server <URL>', 'the Drover server (default: $DROVER_SERVER or http://127.0.0.1:7800)')
    .option('--token <TOKEN>', 'bearer token (default: $DROVER_TOKEN)')
    .option('--json', 'print JSON')
    .action(async (o: { server?: string; token?: string; json?: boolean }) =>
      done(
        await runWorkers(
          {
            ...(o.server !== undefined ? { server: o.server } : {}),
            ...(o.token !== undefined ? { token: o.token } : {}),
            json: o.json === true,
          },
          io,
        ),
      ),
    );

  // Listed for --help; runCli hands their arguments over before commander parses anything.
  program.command('sim').description('run the region simulator (see drover sim --help)');
  program.command('server').description('run the Drover server (see drover server --help)');
  program.command('worker').description('run a worker daemon (see drover worker --help)');

  return program;
}

/**
 * Runs the CLI. Resolves with the exit code, or undefined when a long-running command (sim, server,
 * worker) keeps the process alive.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number | undefined> {
  const [first, ...rest] = argv;
  try {
    if (first !== undefined && DELEGATED.has(first))
      return await runDelegated(first as DelegatedCommand, rest);
    let code: number = ExitCode.OK;
    const program = buildProgram(io, (c) => {
      code = c;
    });
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return ExitCode.INVALID;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; every other commander error is bad usage (exit 2).
      if (e.exitCode === 0) return ExitCode.OK;
      io.stderr.write(`error USAGE: ${e.message.replace(/^error: /, '')}\n`);
      io.stderr.write(`(run drover ${first && !first.startsWith('-') ? `${first} ` : ''}--help for usage)\n`);
      return ExitCode.INVALID;
    }
    return reportError(e, io);
  }
}
