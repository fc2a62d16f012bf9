/**
 * @module cli/commands/validate — `drover validate DIR`: parses and checks a flock, printing every problem.
 */
import type { CliIo } from '../io.ts';
import { loadLocalFlock } from '../local.ts';

export interface ValidateOptions {
  readonly dir: string;
  readonly json?: boolean;
}

/** Exit 0 when the flock is valid; a config error throws CONFIG_INVALID (exit 2) with every problem. */
export async function runValidate(o: ValidateOptions, io: CliIo): Promise<number> {
  const { config } = await loadLocalFlock(o.dir);
  const resources = Object.keys(config.resources).length;
  if (o.json) {
    io.stdout.write(
      `${JSON.stringify({ ok: true, flock: config.flock, targets: config.targets.map((t) => t.name), resources: Object.keys(config.resources), artifacts: config.artifacts.map((a) => a.name) }, null, 2)}\n`,
    );
  } else {
    io.stdout.write(
      `ok: flock '${config.flock}' is valid (${config.targets.length} target${config.targets.length === 1 ? '' : 's'}, ` +
        `${resources} resource${resources === 1 ? '' : 's'}, ${config.artifacts.length} artifact${config.artifacts.length === 1 ? '' : 's'})\n`,
    );
  }
  return 0;
}
