/**
 * @module engine/refresh — reads every resource in state from its provider, after resolving pending
 * intents (creates that a crash interrupted): adopt what the idempotency key created, or clear the intent.
 */
import type { Attributes } from '../providers/types.ts';
import type { RunContext } from './context.ts';
import { Lanes, mapLimit } from './pool.ts';
import { retrying, withRetry } from './retry.ts';
import type { ResourceState, StateSnapshot } from './state-types.ts';

export interface Refreshed {
  readonly snapshot: StateSnapshot;
  /**
   * Attributes as read now; null = gone from the provider. Tasks keep their recorded attributes. After
   * a `planOnly` refresh, a resource that no resource of the flock depends on maps to its attributes as
   * stored when it still exists: only its existence was needed (see `refresh`).
   */
  readonly current: ReadonlyMap<string, Attributes | null>;
}

/**
 * `willWrite`: an apply follows, so the state backend is told to get its writes ready meanwhile.
 * `planOnly`: only a plan follows (makePlan), which needs no stored attributes but deployment tasks'
 * (every other resource's come from its provider's answer here), so the load may leave them out. Nor
 * does it need the answers but those of resources that others depend on (their attributes are what
 * `${…}` references resolve to); of the rest it keeps only whether they still exist, so that a plan of a
 * large state does not hold thousands of answers it never looks at.
 */
export async function refresh(
  rc: RunContext,
  opts: { readonly willWrite?: boolean; readonly planOnly?: boolean } = {},
): Promise<Refreshed> {
  const { state } = rc.opts;
  const { flock } = rc.config;
  const target = rc.target.name;
  const current = new Map<string, Attributes | null>();
  const planOnly = opts.planOnly === true && opts.willWrite !== true;
  const needed = planOnly ? dependedOn(rc) : undefined;
  let total = 0;
  let done = 0;
  const read = (r: ResourceState, value: Attributes | null): void => {
    current.set(
      r.address,
      value === null || needed === undefined || needed.has(r.address) ? value : r.attributes,
    );
    done++;
    if (done === total || done % 100 === 0) rc.opts.onEvent?.({ kind: 'refresh', done, total });
  };
  // Once per resource of the state: no async frame of its own (see `retrying`).
  const reads = new Lanes<ResourceState>(rc.parallelism, (r) => {
    const type = rc.typeOf(r.type);
    if (type.kind === 'task') return read(r, r.attributes);
    const ctx = rc.providerContext(r.type);
    return retrying(() => type.read(ctx, r.id, { ...r.properties }), rc.retry, rc.signal).then((value) =>
      read(r, value),
    );
  });
  // Reads start with the first resources a streaming backend hands over, while the rest of a large
  // state is still being read; a state with intents to resolve first is read only once it is whole.
  const batches: (readonly ResourceState[])[] = [];
  const loading = state.load(flock, target, {
    ...(planOnly
      ? {
          attributesOnlyFor: rc.opts.catalog
            .types()
            .filter((t) => t.kind === 'task')
            .map((t) => t.type),
        }
      : {}),
    onResources: (batch, head) => {
      if (head.intents > 0) return;
      total = head.total;
      batches.push(batch);
      reads.push(batch);
    },
  });
  let snapshot: StateSnapshot;
  try {
    snapshot = await loading;
  } catch (e) {
    // Reads already started from the first pages must not go on behind a failed refresh.
    reads.halt(e);
    await reads.finish().catch(() => undefined);
    throw e;
  }
  if (opts.willWrite) state.prepareWrites?.();

  if (snapshot.intents.size > 0) {
    // In parallel: an apply stopped early may leave many intents written ahead (see apply.ts).
    await mapLimit([...snapshot.intents.values()], rc.parallelism, async (intent) => {
      const type = rc.typeOf(intent.type);
      const ctx = rc.providerContext(intent.type);
      const { value: found } = await withRetry(
        () => type.lookup(ctx, { idempotencyKey: intent.idempotencyKey, props: { ...intent.properties } }),
        rc.retry,
        undefined,
        rc.signal,
      );
      if (found) {
        await state.commit(
          flock,
          target,
          {
            kind: 'put',
            action: 'adopt',
            resource: {
              address: intent.address,
              type: intent.type,
              id: found.id,
              properties: intent.properties,
              attributes: found,
              dependencies: intent.dependencies,
            },
          },
          { clearIntent: true },
        );
        rc.opts.onEvent?.({ kind: 'adopted', address: intent.address, id: found.id });
        rc.log.info('adopted a resource created before a crash', { address: intent.address, id: found.id });
      } else {
        await state.clearIntent(flock, target, intent.address);
        rc.opts.onEvent?.({ kind: 'intent-cleared', address: intent.address });
      }
    });
    snapshot = await state.load(flock, target);
  }

  // A backend that streams hands over every resource of its snapshot (LoadOptions.onResources), so
  // there is nothing left to look up; whatever was not handed over (a backend that does not stream, a
  // state that had intents, or one that streamed only part) is read now.
  total = snapshot.resources.size;
  const streamed = batches.reduce((n, b) => n + b.length, 0);
  if (streamed === 0) reads.push([...snapshot.resources.values()]);
  else if (streamed !== total) {
    const queued = new Set<string>();
    for (const batch of batches) for (const r of batch) queued.add(r.address);
    reads.push([...snapshot.resources.values()].filter((r) => !queued.has(r.address)));
  }
  await reads.finish();
  return { snapshot, current };
}

/** The resources of the flock that some resource depends on (explicitly or by a `${…}` reference). */
function dependedOn(rc: RunContext): Set<string> {
  const out = new Set<string>();
  const { resources } = rc.config;
  for (const name of Object.keys(resources)) for (const d of resources[name]!.dependsOn) out.add(d);
  return out;
}
