/**
 * @module cli/commands/apply — `drover apply DIR --target NAME [--plan FILE] [--yes] [--parallelism N]` and
 * the flow `drover destroy` shares with it: show the plan, ask, apply exactly that plan.
 *
 * Without `--plan`, apply plans, shows the plan and asks on the terminal (unless `--yes`); with no terminal
 * and no `--yes` it refuses before opening anything (exit 2). With `--plan FILE` the reviewed plan is applied
 * without asking, and refused (PLAN_STALE, exit 3) if the config or the state changed since it was made.
 */
import { DroverError } from '../../errors.ts';
import { renderPlan, type Action, type ApplyResult, type Plan } from '../../engine/index.ts';
import type { CliIo } from '../io.ts';
import { readPlanFile } from '../inputs.ts';
import { Progress, changeCount } from '../output.ts';
import {
  applyLocal,
  computePlan,
  isRemote,
  prepare,
  runRemoteTask,
  type Prepared,
  type RunFlags,
} from '../run.ts';
import { ensureNewline } from './plan.ts';

export interface ApplyOptions extends RunFlags {
  /** A plan saved by `drover plan --out FILE`. */
  readonly plan?: string;
  /** Apply without asking, and approve drover.approval resources. */
  readonly yes?: boolean;
  /** Print the result JSON on stdout (the readable plan and progress go to stderr). */
  readonly json?: boolean;
}

export async function runApply(o: ApplyOptions, io: CliIo): Promise<number> {
  return applyFlow(o, io, false);
}

/** Shared by apply and destroy (destroy = a plan of deletes for everything in state). */
export async function applyFlow(o: ApplyOptions, io: CliIo, destroy: boolean): Promise<number> {
  const verb = destroy ? 'destroy' : 'apply';
  const saved = o.plan !== undefined ? await readPlanFile(o.plan) : undefined;
  if (!saved && !o.yes && !io.interactive) {
    throw new DroverError(
      'USAGE',
      `${verb} needs confirmation and there is no terminal to ask on: pass --yes to ${verb} without asking` +
        (destroy ? '' : ', or --plan FILE to apply a plan reviewed with drover plan --out FILE'),
    );
  }
  const p = saved ? await prepareSaved(o, saved) : await prepare(o, destroy);
  const text = o.json ? io.stderr : io.stdout; // --json keeps stdout for the result alone

  if (!saved && destroy && isRemote(o)) return destroyRemote(o, p, io, text);

  let plan: Plan;
  if (saved) {
    plan = saved;
  } else {
    const refresh = new Progress(io.stderr, 0);
    try {
      plan = await computePlan(o, p, io, refresh.onEvent);
    } finally {
      refresh.clear();
    }
    text.write(ensureNewline(renderPlan(plan, { color: io.color && !o.json })));
    const n = changeCount(plan);
    if (n === 0) {
      text.write(`Nothing to ${verb} on target ${plan.target}.\n`);
      if (o.json)
        io.stdout.write(
          `${JSON.stringify({ plan, ok: true, serial: plan.state.serial, results: [] }, null, 2)}\n`,
        );
      return 0;
    }
    if (!o.yes) {
      const ok = await io.ask(
        `\n${destroy ? 'Destroy' : 'Apply'} these ${n} change${n === 1 ? '' : 's'} on target ${plan.target}?`,
      );
      if (!ok) {
        text.write(`Cancelled; nothing was changed.\n`);
        return 1;
      }
    }
  }

  const result = isRemote(o)
    ? await applyRemote(o, p, plan, io, destroy)
    : await applyWithProgress(o, p, plan, io);
  return report(result, o, io, text, verb);
}

/** Prints the result (and with --json its JSON); a failed operation is APPLY_FAILED (exit 1). */
function report(
  result: ApplyResult,
  o: ApplyOptions,
  io: CliIo,
  text: CliIo['stdout'],
  verb: string,
): number {
  if (o.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  text.write(summary(result, verb));
  const failed = result.results.filter((r) => !r.ok);
  if (!result.ok || failed.length) {
    for (const f of failed) io.stderr.write(`  ${f.address} (${f.action}): ${f.error ?? 'failed'}\n`);
    throw new DroverError(
      'APPLY_FAILED',
      `${failed.length} of ${result.results.length} operation${result.results.length === 1 ? '' : 's'} failed on target ${result.plan.target}; ` +
        `state records everything that was done — fix the cause and run ${verb} again`,
    );
  }
  return 0;
}

/**
 * Through a server, a destroy runs as one `destroy` task (the API has no destroy-plan task to show
 * first), so the question names what will go rather than listing it.
 */
async function destroyRemote(
  o: ApplyOptions,
  p: Prepared,
  io: CliIo,
  text: CliIo['stdout'],
): Promise<number> {
  if (!o.yes) {
    const ok = await io.ask(
      `Destroy every resource of flock ${p.loaded.config.flock} on target ${p.inputs.target} (through ${o.server})?`,
    );
    if (!ok) {
      text.write('Cancelled; nothing was changed.\n');
      return 1;
    }
  }
  return report(normalizeRemote(await runRemoteTask(o, p, 'destroy', io), undefined), o, io, text, 'destroy');
}

/** The server's result is { serial, results, plan } (without ok); make it an ApplyResult. */
function normalizeRemote(raw: unknown, plan: Plan | undefined): ApplyResult {
  const r = (raw ?? {}) as Partial<ApplyResult>;
  const results = Array.isArray(r.results) ? r.results : [];
  const resultPlan = r.plan ?? plan;
  if (!resultPlan) throw new DroverError('INTERNAL', 'the server answered an apply without its plan');
  return {
    plan: resultPlan,
    ok: r.ok ?? results.every((x) => x.ok),
    serial: typeof r.serial === 'number' ? r.serial : resultPlan.state.serial,
    results,
  };
}

async function applyWithProgress(o: ApplyOptions, p: Prepared, plan: Plan, io: CliIo): Promise<ApplyResult> {
  const progress = new Progress(io.stderr, changeCount(plan));
  // drover.approval asks here: --yes approves; no terminal → not approved (fail closed).
  const confirm = async (question: string): Promise<boolean> => {
    if (o.yes) {
      progress.print(`${question} — approved (--yes)`);
      return true;
    }
    if (!io.interactive) {
      progress.print(`${question} — not approved: no terminal to ask on (pass --yes to approve)`);
      return false;
    }
    progress.clear();
    return io.ask(question);
  };
  // Ctrl-C once: the engine starts nothing new and cancels the calls in flight; everything that finished
  // is already recorded, and a create cut off mid-way left an intent that the next run adopts or clears.
  // Twice: quit at once (the same guarantees hold: state is written per operation).
  const interrupt = new AbortController();
  const onSigint = (): void => {
    if (interrupt.signal.aborted) process.exit(130);
    progress.print(
      'interrupted: starting nothing new and cancelling operations in flight; what finished is recorded (Ctrl-C again to quit at once)',
    );
    interrupt.abort(new Error('interrupted by the user'));
  };
  process.on('SIGINT', onSigint);
  try {
    return await applyLocal(o, p, plan, io, { onEvent: progress.onEvent, confirm, signal: interrupt.signal });
  } finally {
    process.off('SIGINT', onSigint);
    progress.clear();
  }
}

async function applyRemote(
  o: ApplyOptions,
  p: Prepared,
  plan: Plan,
  io: CliIo,
  destroy: boolean,
): Promise<ApplyResult> {
  return normalizeRemote(await runRemoteTask(o, p, destroy ? 'destroy' : 'apply', io, { plan }), plan);
}

/** Inputs for a saved plan come from the plan itself; flags that contradict it are refused. */
async function prepareSaved(o: ApplyOptions, saved: Plan): Promise<Prepared> {
  if (o.target !== undefined && o.target !== saved.target) {
    throw new DroverError(
      'PLAN_FILE_INVALID',
      `the plan in ${o.plan} is for target '${saved.target}', not '${o.target}'`,
    );
  }
  for (const [name, version] of Object.entries(o.artifacts ?? {})) {
    if (saved.artifacts[name] !== version) {
      throw new DroverError(
        'USAGE',
        `--artifact ${name}=${version} contradicts the saved plan (${name}=${saved.artifacts[name] ?? 'none'}); drop it or make a new plan`,
      );
    }
  }
  if (o.releaseId !== undefined && o.releaseId !== saved.release_id) {
    throw new DroverError(
      'USAGE',
      `--release-id ${o.releaseId} contradicts the saved plan (release ${saved.release_id})`,
    );
  }
  const p = await prepare(
    { ...o, target: saved.target, artifacts: saved.artifacts, releaseId: saved.release_id },
    saved.destroy,
  );
  if (p.loaded.config.flock !== saved.flock) {
    throw new DroverError(
      'PLAN_FILE_INVALID',
      `the plan in ${o.plan} is for flock '${saved.flock}', not '${p.loaded.config.flock}'`,
    );
  }
  if (p.loaded.config.digest !== saved.config_digest) {
    throw new DroverError(
      'PLAN_STALE',
      `the flock config changed since the plan in ${o.plan} was made; make a new plan`,
    );
  }
  return p;
}

const DONE: Record<Action, string> = {
  create: 'created',
  update: 'updated',
  replace: 'replaced',
  delete: 'deleted',
  'no-op': 'unchanged',
};

function summary(result: ApplyResult, verb: string): string {
  const counts = new Map<Action, number>();
  for (const r of result.results)
    if (r.ok && r.action !== 'no-op') counts.set(r.action, (counts.get(r.action) ?? 0) + 1);
  const parts = (['create', 'update', 'replace', 'delete'] as const).map(
    (a) => `${counts.get(a) ?? 0} ${DONE[a]}`,
  );
  const head = result.ok
    ? `${verb === 'destroy' ? 'Destroy' : 'Apply'} complete`
    : `${verb === 'destroy' ? 'Destroy' : 'Apply'} failed`;
  return `${head} on target ${result.plan.target}: ${parts.join(', ')} (state serial ${result.serial}).\n`;
}
