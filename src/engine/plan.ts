/**
 * @module engine/plan — compares the desired resources (config, for this target) with refreshed state and
 * yields one operation per resource: create, update, replace, delete or no-op, with the changed attributes.
 *
 * Values that depend on a resource not yet applied are "(known after apply)"; a dependent then updates
 * (or replaces, when the property forces replacement). Deployment tasks (`drover.*`) follow the release
 * id / execution id rules of SPEC §3.
 */
import { isDeepStrictEqual } from 'node:util';
import { resolveProperties, selectsTarget } from '../config/index.ts';
import type { ResourceConfig } from '../config/model.ts';
import { DroverError } from '../errors.ts';
import { reverseOrder, topoOrder } from '../graph/index.ts';
import type { Attributes } from '../providers/types.ts';
import type { RunContext } from './context.ts';
import { UNKNOWN, type Action, type Change, type Plan, type PlanOperation } from './plan-types.ts';
import type { Refreshed } from './refresh.ts';
import type { ResourceState } from './state-types.ts';

export interface PlannedResource {
  readonly config: ResourceConfig;
  readonly prior: ResourceState | undefined;
  /** Attributes known after this resource's operation, if known at plan time. */
  readonly plannedAttributes: Readonly<Record<string, unknown>> | undefined;
}

export interface PlanResult {
  readonly plan: Plan;
  readonly desired: ReadonlyMap<string, PlannedResource>;
}

/** The resources of the flock that this target carries (a `targets:` selector may leave some out). */
export function desiredResources(rc: RunContext): Map<string, ResourceConfig> {
  const out = new Map<string, ResourceConfig>();
  if (rc.destroy) return out;
  // Keys, not entries: a flock's resources are a record of thousands of keys, and entries builds a pair
  // for each of them at every plan.
  const { resources } = rc.config;
  for (const name of Object.keys(resources)) {
    const r = resources[name]!;
    if (selectsTarget(r, rc.targetInfo)) out.set(name, r);
  }
  for (const r of out.values()) {
    for (const dep of r.dependsOn) {
      if (!out.has(dep)) {
        throw new DroverError(
          'CONFIG_INVALID',
          `resource "${r.name}" depends on "${dep}", which its targets selector leaves out of target "${rc.target.name}"`,
          {
            problems: [
              {
                message: `depends on "${dep}", which is not in target "${rc.target.name}"`,
                location: r.location,
              },
            ],
          },
        );
      }
    }
  }
  return out;
}

const NONE_UNKNOWN: ReadonlySet<string> = new Set();

/** The keys of both, each once, sorted (once per resource of every plan: no intermediate arrays). */
function propertyKeys(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): string[] {
  const keys = Object.keys(a);
  for (const k in b) if (Object.hasOwn(b, k) && !Object.hasOwn(a, k)) keys.push(k);
  return keys.sort();
}

export function makePlan(rc: RunContext, refreshed: Refreshed): PlanResult {
  const { snapshot, current } = refreshed;
  const desired = desiredResources(rc);
  const order = topoOrder(
    [...desired.keys()],
    [...desired.values()].flatMap((r) => r.dependsOn.map((d) => ({ from: r.name, to: d }))),
  );

  const planned = new Map<string, PlannedResource>();
  const operations: PlanOperation[] = [];
  const known = (name: string): Readonly<Record<string, unknown>> | undefined =>
    planned.get(name)?.plannedAttributes;
  const scope = rc.scope(known);

  for (const address of order) {
    const cfg = desired.get(address)!;
    const type = rc.typeOf(cfg.type);
    const prior = snapshot.resources.get(address);
    const now = prior ? current.get(address) : undefined;
    const { values, unknownKeys } = resolveProperties(cfg, scope);
    const unknown = unknownKeys.length === 0 ? NONE_UNKNOWN : new Set(unknownKeys);

    let action: Action;
    let reason: string | undefined;
    const changes: Change[] = [];
    const after = (k: string): unknown => (unknown.has(k) ? UNKNOWN : values[k]);

    if (!prior || now === null || prior.type !== cfg.type) {
      action = prior && prior.type !== cfg.type ? 'replace' : 'create';
      if (prior && now === null) reason = 'gone from the provider';
      if (prior && prior.type !== cfg.type) reason = `type changed from ${prior.type}`;
      for (const k of Object.keys(values).sort())
        changes.push({ path: k, before: undefined, after: after(k) });
    } else {
      for (const k of propertyKeys(values, prior.properties)) {
        const before = prior.properties[k];
        const a = after(k);
        if (unknown.has(k) || (before !== a && !isDeepStrictEqual(before, a))) {
          changes.push({
            path: k,
            before,
            after: a,
            ...(type.replaceOn.includes(k) ? { forcesReplace: true } : {}),
          });
        }
      }
      const canUpdate = type.update !== undefined || type.kind === 'task';
      if (type.kind === 'task') {
        if (prior.releaseId !== rc.releaseId) {
          action = 'update';
          reason = 'new release';
        } else if (prior.executionId !== rc.executionId && prior.status === 'FAILED') {
          action = 'update';
          reason = 'retry of failed execution';
        } else if (changes.length) {
          action = 'update';
        } else {
          action = 'no-op';
        }
      } else if (changes.length) {
        action = changes.some((c) => c.forcesReplace) || !canUpdate ? 'replace' : 'update';
      } else if (cfg.forceOnRelease && prior.releaseId !== rc.releaseId) {
        action = canUpdate ? 'update' : 'replace';
        reason = 'force_on_release';
      } else {
        action = 'no-op';
      }
    }

    let plannedAttributes: Readonly<Record<string, unknown>> | undefined;
    if (action === 'no-op') plannedAttributes = now ?? prior?.attributes;
    else if (action === 'update' && type.kind !== 'task' && prior) {
      const merged: Record<string, unknown> = { ...(now ?? prior.attributes) };
      for (const [k, v] of Object.entries(values)) if (!unknown.has(k)) merged[k] = v;
      for (const k of unknown) delete merged[k];
      plannedAttributes = merged;
    }
    planned.set(address, { config: cfg, prior, plannedAttributes });
    operations.push({
      address,
      type: cfg.type,
      action,
      changes,
      ...(reason ? { reason } : {}),
      depends_on: [...cfg.dependsOn],
    });
  }

  // Deletes: what state holds that the config (for this target) no longer wants, dependents first.
  const doomed = [...snapshot.resources.values()].filter((r) => !desired.has(r.address));
  const doomedSet = new Set(doomed.map((r) => r.address));
  const deleteOrder = reverseOrder(
    doomed.map((r) => r.address),
    doomed.flatMap((r) =>
      r.dependencies.filter((d) => doomedSet.has(d)).map((d) => ({ from: r.address, to: d })),
    ),
  );
  for (const address of deleteOrder) {
    const r = snapshot.resources.get(address)!;
    operations.push({
      address,
      type: r.type,
      action: 'delete',
      changes: Object.keys(r.properties)
        .sort()
        .map((k) => ({ path: k, before: r.properties[k], after: undefined })),
      ...(rc.destroy ? { reason: 'destroy' } : { reason: 'not in the config for this target' }),
      depends_on: [...r.dependencies],
    });
  }

  const summary: Record<Action, number> = { create: 0, update: 0, replace: 0, delete: 0, 'no-op': 0 };
  for (const op of operations) summary[op.action]++;
  const plan: Plan = {
    format_version: 1,
    flock: rc.config.flock,
    target: rc.target.name,
    release_id: rc.releaseId,
    execution_id: rc.executionId,
    destroy: rc.destroy,
    created_at: new Date().toISOString(),
    state: { lineage: snapshot.lineage, serial: snapshot.serial },
    config_digest: rc.config.digest,
    artifacts: { ...rc.artifacts },
    operations,
    summary,
  };
  return { plan, desired: planned };
}

/** True when applying the plan would change nothing. */
export function isEmptyPlan(plan: Plan): boolean {
  return plan.operations.every((o) => o.action === 'no-op');
}

export type { Attributes };
