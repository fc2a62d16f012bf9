/**
 * @module engine — refresh → plan → apply for one flock on one execution target (SPEC.md §3).
 */
import type { FlockConfig } from '../config/model.ts';
import type { HttpClient, Logger, TypeCatalog } from '../providers/types.ts';
import type { StateBackend } from './state-types.ts';
import type { ApplyResult, EngineEvent, Plan } from './plan-types.ts';

export type * from './plan-types.ts';
export type * from './state-types.ts';
export { UNKNOWN } from './plan-types.ts';

export interface EngineOptions {
  readonly catalog: TypeCatalog;
  readonly state: StateBackend;
  readonly http: HttpClient;
  /** Bounded parallelism of apply and refresh (default 10). */
  readonly parallelism?: number;
  readonly log?: Logger;
  /** drover.approval asks here; default: fail closed. */
  readonly confirm?: (question: string) => Promise<boolean>;
  readonly onEvent?: (e: EngineEvent) => void;
  readonly retry?: { readonly attempts?: number; readonly baseMs?: number; readonly maxMs?: number };
  /** Environment for `${env.NAME}` in providers (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
}

export interface RunInputs {
  readonly target: string;
  /** Artifact versions by name; every flock artifact must have one (ARTIFACT_VERSION_MISSING). */
  readonly artifacts: Readonly<Record<string, string>>;
  /** Default: derived from the config digest and artifact versions (local mode). */
  readonly releaseId?: string;
  /** Default: a fresh UUID. */
  readonly executionId?: string;
  readonly destroy?: boolean;
}

/*
 * Public functions (implemented in plan.ts / apply.ts / compare.ts / render.ts; re-exported here):
 *
 *   plan(config: FlockConfig, inputs: RunInputs, opts: EngineOptions): Promise<Plan>
 *     refresh (resolving pending intents: adopt or clear) then plan. Does not change resources.
 *   apply(config: FlockConfig, inputs: RunInputs, opts: EngineOptions & { savedPlan?: Plan; approvedPlan?: Plan }): Promise<ApplyResult>
 *     refresh → plan → apply. savedPlan: refused with PLAN_STALE if state lineage/serial moved on.
 *     approvedPlan: the fresh plan is compared with it first (PLAN_DIVERGED names the extra operation).
 *   comparePlans(approved: Plan, fresh: Plan): void — throws DroverError('PLAN_DIVERGED').
 *   renderPlan(plan: Plan, opts?: { color?: boolean }): string — the readable diff for people.
 *   localReleaseId(config: FlockConfig, artifacts): string — UUID derived from config digest + versions.
 */
export type { FlockConfig };

import { createRunContext } from './context.ts';
import { refresh } from './refresh.ts';
import { makePlan } from './plan.ts';
import { executePlan } from './apply.ts';
import { comparePlans } from './compare.ts';
import { DroverError } from '../errors.ts';

export { comparePlans } from './compare.ts';
export { renderPlan } from './render.ts';
export { localReleaseId } from './release-id.ts';
export { isEmptyPlan } from './plan.ts';
export { withRetry, DEFAULT_RETRY, type RetryPolicy } from './retry.ts';

/** Refresh (resolving pending intents), then plan. Changes no resource. */
export async function plan(config: FlockConfig, inputs: RunInputs, opts: EngineOptions): Promise<Plan> {
  const rc = createRunContext(config, inputs, opts);
  const refreshed = await refresh(rc, { planOnly: true });
  return makePlan(rc, refreshed).plan;
}

export interface ApplyOptions extends EngineOptions {
  /** A plan saved by `plan --out`: refused (PLAN_STALE) if the state or the inputs moved on since. */
  readonly savedPlan?: Plan;
  /** An approved plan: the fresh plan must hold no operation it does not (PLAN_DIVERGED). */
  readonly approvedPlan?: Plan;
}

/** Refresh → plan → apply, always all three. */
export async function apply(
  config: FlockConfig,
  inputs: RunInputs,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const saved = opts.savedPlan;
  if (saved) {
    const why =
      saved.flock !== config.flock
        ? `it is for flock ${saved.flock}`
        : saved.target !== inputs.target
          ? `it is for target ${saved.target}`
          : saved.config_digest !== config.digest
            ? 'the flock config changed since'
            : Boolean(saved.destroy) !== Boolean(inputs.destroy)
              ? 'it is a destroy plan'
              : JSON.stringify(sortKeys(saved.artifacts)) !== JSON.stringify(sortKeys(inputs.artifacts)) &&
                  Object.keys(inputs.artifacts).length > 0
                ? 'the artifact versions differ'
                : undefined;
    if (why)
      throw new DroverError('PLAN_STALE', `the saved plan cannot be applied: ${why}`, {
        details: { reason: why },
      });
    inputs = {
      ...inputs,
      artifacts: { ...saved.artifacts, ...inputs.artifacts },
      releaseId: inputs.releaseId ?? saved.release_id,
    };
    const before = await opts.state.load(config.flock, inputs.target);
    if (before.lineage !== saved.state.lineage || before.serial !== saved.state.serial) {
      throw new DroverError(
        'PLAN_STALE',
        `the state of ${config.flock}/${inputs.target} changed since the plan was made (serial ${saved.state.serial} → ${before.serial}); plan again`,
        { details: { planned: saved.state, current: { lineage: before.lineage, serial: before.serial } } },
      );
    }
  }
  const rc = createRunContext(config, inputs, opts);
  const refreshed = await refresh(rc, { willWrite: true });
  if (saved && refreshed.snapshot.serial !== saved.state.serial) {
    throw new DroverError(
      'PLAN_STALE',
      'refresh resolved an interrupted create, so the state changed since the plan; plan again',
    );
  }
  const { plan: fresh, desired } = makePlan(rc, refreshed);
  if (saved) comparePlans(saved, fresh);
  if (opts.approvedPlan) comparePlans(opts.approvedPlan, fresh);
  return executePlan(rc, fresh, refreshed, desired);
}

function sortKeys(o: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
