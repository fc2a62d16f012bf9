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
