/**
 * @module cli/commands/plan — `drover plan DIR --target NAME [--out FILE] [--json] [--destroy]`: refresh and
 * plan one target; changes nothing. The plan's JSON form is what `drover apply --plan FILE` takes.
 */
import { writeFile } from 'node:fs/promises';
import { DroverError } from '../../errors.ts';
import { renderPlan, type Plan } from '../../engine/index.ts';
import type { CliIo } from '../io.ts';
import { Progress } from '../output.ts';
import { computePlan, prepare, type RunFlags } from '../run.ts';

export interface PlanOptions extends RunFlags {
  /** Write the plan JSON here. */
  readonly out?: string;
  /** Print the plan JSON on stdout instead of the readable diff. */
  readonly json?: boolean;
  /** Plan deletes for everything in state (what `drover destroy` would do). */
  readonly destroy?: boolean;
}

export async function runPlan(o: PlanOptions, io: CliIo): Promise<number> {
  const plan = await planCommand(o, io);
  if (o.json) io.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
  else io.stdout.write(ensureNewline(renderPlan(plan, { color: io.color })));
  if (o.out && !o.json)
    io.stdout.write(
      `\nSaved the plan to ${o.out}. Apply exactly it with: drover apply ${o.dir} --plan ${o.out}\n`,
    );
  return 0;
}

/** Computes (and with --out saves) the plan; shared with the demo. */
export async function planCommand(o: PlanOptions, io: CliIo): Promise<Plan> {
  const p = await prepare(o, o.destroy === true);
  const progress = new Progress(io.stderr, 0);
  let plan: Plan;
  try {
    plan = await computePlan(o, p, io, progress.onEvent);
  } finally {
    progress.clear();
  }
  if (o.out) {
    try {
      await writeFile(o.out, `${JSON.stringify(plan, null, 2)}\n`);
    } catch (e) {
      throw new DroverError('USAGE', `cannot write the plan to ${o.out}: ${(e as Error).message}`);
    }
  }
  return plan;
}

export function ensureNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}
