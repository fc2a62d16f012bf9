/**
 * @module config/targets — which targets a resource lives in (`targets:` selectors) and the order
 * targets run in (the `after` DAG).
 */
import { topoOrder } from '../graph/index.ts';
import type { TargetInfo } from '../providers/types.ts';
import type { FlockConfig, ResourceConfig, TargetConfig } from './model.ts';

/**
 * True when the resource has no selector, or when the target matches every key the selector gives
 * (`names` against the target's name; each key matches any of its values). An empty list matches nothing.
 */
export function selectsTarget(resource: Pick<ResourceConfig, 'targets'>, target: TargetInfo): boolean {
  const s = resource.targets;
  if (!s) return true;
  if (s.names && !s.names.includes(target.name)) return false;
  if (s.realm && !s.realm.includes(target.realm)) return false;
  if (s.tenancy && !s.tenancy.includes(target.tenancy)) return false;
  if (s.region && !s.region.includes(target.region)) return false;
  return true;
}

/** Targets in the order releases run them: every target after those it names in `after`; ties alphabetical. */
export function targetOrder(config: Pick<FlockConfig, 'targets'>): TargetConfig[] {
  const byName = new Map(config.targets.map((t) => [t.name, t]));
  const order = topoOrder(
    byName.keys(),
    config.targets.flatMap((t) => t.after.map((to) => ({ from: t.name, to }))),
  );
  return order.map((n) => byName.get(n)!);
}
