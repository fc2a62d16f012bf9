/**
 * @module cli/run — what plan, apply and destroy share: loading the flock and checking inputs, then
 * running the engine locally (state in the data directory) or as a task on a server (`--server`).
 */
import { DroverError } from '../errors.ts';
import {
  apply as engineApply,
  plan as enginePlan,
  type ApplyResult,
  type EngineEvent,
  type Plan,
  type RunInputs,
} from '../engine/index.ts';
import { ApiClient, readFlockFiles, resolveServer, type ServerFlags, type TaskKind } from './api-client.ts';
import type { CliIo } from './io.ts';
import { loadLocalFlock, openLocalEngine, type LoadedFlock, type StoreFlags } from './local.ts';
import { resolveInputs } from './inputs.ts';

/** Flags common to plan, apply and destroy. */
export interface RunFlags extends StoreFlags, ServerFlags {
  readonly dir: string;
  readonly target?: string;
  readonly artifacts?: Readonly<Record<string, string>>;
  readonly releaseId?: string;
  readonly parallelism?: number;
}

export interface Prepared {
  readonly loaded: LoadedFlock;
  readonly inputs: RunInputs;
}

/** Loads the flock and checks the inputs against it; nothing is opened yet. */
export async function prepare(flags: RunFlags, destroy: boolean): Promise<Prepared> {
  if (!flags.target) throw new DroverError('USAGE', "required option '--target <NAME>' not specified");
  const loaded = await loadLocalFlock(flags.dir);
  const inputs = resolveInputs(loaded.config, {
    target: flags.target,
    artifacts: flags.artifacts ?? {},
    ...(flags.releaseId !== undefined ? { releaseId: flags.releaseId } : {}),
    destroy,
  });
  return { loaded, inputs };
}

/** Whether this run goes through a server: only when `--server` is given (a local command stays local). */
export function isRemote(flags: RunFlags): boolean {
  return flags.server !== undefined;
}

/** Runs a task on the server and follows it to its end, showing its log lines on stderr. */
export async function runRemoteTask(
  flags: RunFlags,
  p: Prepared,
  kind: TaskKind,
  io: CliIo,
  extra: { plan?: Plan } = {},
): Promise<unknown> {
  const { server, token } = resolveServer(flags, io.env);
  const client = new ApiClient(server, token);
  const files = await readFlockFiles(flags.dir);
  const { task_id } = await client.createTask({
    kind,
    flock: { files },
    target: p.inputs.target,
    artifacts: p.inputs.artifacts,
    ...(p.inputs.releaseId !== undefined ? { release_id: p.inputs.releaseId } : {}),
    ...(flags.parallelism !== undefined ? { parallelism: flags.parallelism } : {}),
    ...(extra.plan ? { plan: extra.plan } : {}),
  });
  io.stderr.write(`task ${task_id} submitted to ${server}\n`);
  return client.waitTask(task_id, {
    onLog: (line) => io.stderr.write(`  ${line}\n`),
    onStatus: (s) => io.stderr.write(`task ${task_id}: ${s}\n`),
  });
}

/** Refresh + plan, locally or on the server. */
export async function computePlan(
  flags: RunFlags,
  p: Prepared,
  io: CliIo,
  onEvent?: (e: EngineEvent) => void,
): Promise<Plan> {
  if (isRemote(flags)) {
    if (p.inputs.destroy)
      throw new DroverError(
        'USAGE',
        'a destroy plan cannot be made through a server yet: drop --destroy, or plan locally',
      );
    // The server answers { plan } (older builds: the plan itself).
    const result = (await runRemoteTask(flags, p, 'plan', io)) as { plan?: Plan } & Partial<Plan>;
    return result.plan ?? (result as Plan);
  }
  const engine = await openLocalEngine(p.loaded, { ...flags, target: p.inputs.target }, io);
  try {
    return await enginePlan(p.loaded.config, p.inputs, {
      ...engine.options,
      ...(onEvent ? { onEvent } : {}),
    });
  } finally {
    await engine.close();
  }
}

/**
 * Applies `plan` locally: refresh → plan → apply, refused (PLAN_STALE) if the state moved on since `plan`
 * was made, so what runs is what was shown.
 */
export async function applyLocal(
  flags: RunFlags,
  p: Prepared,
  plan: Plan,
  io: CliIo,
  hooks: {
    onEvent: (e: EngineEvent) => void;
    confirm: (q: string) => Promise<boolean>;
    signal?: AbortSignal;
  },
): Promise<ApplyResult> {
  const engine = await openLocalEngine(
    p.loaded,
    {
      ...flags,
      target: p.inputs.target,
      confirm: hooks.confirm,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
    },
    io,
  );
  try {
    const inputs: RunInputs = {
      ...p.inputs,
      releaseId: plan.release_id,
      executionId: plan.execution_id,
      destroy: plan.destroy,
    };
    return await engineApply(p.loaded.config, inputs, {
      ...engine.options,
      onEvent: hooks.onEvent,
      savedPlan: plan,
    });
  } finally {
    await engine.close();
  }
}
