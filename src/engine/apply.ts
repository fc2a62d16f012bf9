/**
 * @module engine/apply — executes a plan's operations as a DAG with bounded parallelism, recording state
 * after every single resource operation (each in its own transaction).
 *
 * Order: a create/update/replace waits for the operations of the resources it depends on; a delete waits
 * for the operations of every resource that depended on it (dependents go first). Among ready operations,
 * the one with the longest chain of operations behind it starts first, so the critical path is never
 * starved. A failed operation skips everything that depends on it; independent work goes on.
 *
 * Crash safety: before a create, an intent with a fresh idempotency key is committed; the created
 * resource and the intent's removal are committed together. A crash between the two leaves an intent,
 * which the next refresh resolves (adopt or clear): nothing is orphaned.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { resolveProperties } from '../config/index.ts';
import { DroverError } from '../errors.ts';
import type { Attributes } from '../providers/types.ts';
import type { RunContext } from './context.ts';
import type { ApplyResult, Plan, PlanOperation } from './plan-types.ts';
import type { PlannedResource } from './plan.ts';
import type { Refreshed } from './refresh.ts';
import { withRetry } from './retry.ts';
import type { ResourceState, StateBackend } from './state-types.ts';

interface Node {
  readonly op: PlanOperation;
  readonly waitsFor: Set<string>;
  readonly dependents: string[];
  height: number;
  state: 'pending' | 'running' | 'done' | 'failed' | 'skipped';
  /** Its provider work is done and its attributes known: dependents may start (its record may still be on its way). */
  released: boolean;
}

type OpResult = ApplyResult['results'][number];

export async function executePlan(
  rc: RunContext,
  plan: Plan,
  refreshed: Refreshed,
  desired: ReadonlyMap<string, PlannedResource>,
): Promise<ApplyResult> {
  const state: StateBackend = rc.opts.state;
  const { flock } = rc.config;
  const target = rc.target.name;
  const { snapshot, current } = refreshed;

  // Attributes known so far, by address: refreshed ones now, applied ones as operations finish.
  const attrs = new Map<string, Readonly<Record<string, unknown>>>();
  for (const [address, a] of current) if (a) attrs.set(address, a);

  const ops = plan.operations.filter((o) => o.action !== 'no-op');
  const nodes = new Map<string, Node>();
  for (const op of ops)
    nodes.set(op.address, {
      op,
      waitsFor: new Set(),
      dependents: [],
      height: 0,
      state: 'pending',
      released: false,
    });
  for (const node of nodes.values()) {
    const { op } = node;
    if (op.action !== 'delete') {
      for (const dep of op.depends_on)
        if (nodes.has(dep) && nodes.get(dep)!.op.action !== 'delete') node.waitsFor.add(dep);
    }
    // Whoever depended on this resource in state must have moved on (deleted or updated) first when it is
    // deleted or replaced.
    if (op.action === 'delete' || op.action === 'replace') {
      for (const r of snapshot.resources.values()) {
        if (r.address !== op.address && r.dependencies.includes(op.address) && nodes.has(r.address)) {
          const other = nodes.get(r.address)!;
          if (other.op.action === 'delete') node.waitsFor.add(r.address);
        }
      }
    }
  }
  for (const [address, node] of nodes) for (const w of node.waitsFor) nodes.get(w)!.dependents.push(address);
  computeHeights(nodes);

  const results: OpResult[] = [];
  let lastSerial = snapshot.serial;

  /*
   * Intents written ahead. A create's intent must be committed before its call, and on the critical path
   * that write would cost a database round trip per level. But a create whose properties are already known
   * (no value waits on an attribute not known yet) can have its intent written earlier: when one of the
   * operations it waits for starts (or at the start, for the first ones), so it is committed — group
   * commit gathers these writes — by the time its create may go. Its create still waits for that commit.
   * Only the next step is written ahead, not the whole plan: a run stopped early (a crash, a worker's lost
   * lease) leaves intents only for what was running and what came right after, and the refresh that
   * resumes it looks up a handful of keys, not hundreds. If the run stops before such a create is made,
   * that refresh finds nothing under its key and clears it — a lookup, never an orphan. Only plain creates
   * (nothing at that address in state) are written ahead: a replace's old resource still carries the name
   * a lookup by natural key would find.
   */
  const aheadIntents = new Map<
    string,
    { key: string; values: Record<string, unknown>; written: Promise<void> }
  >();
  const writeAhead = (node: Node): void => {
    const { op } = node;
    if (node.state !== 'pending' || aheadIntents.has(op.address)) return;
    if (op.action !== 'create' || snapshot.resources.has(op.address)) return;
    const planned = desired.get(op.address);
    if (!planned || rc.typeOf(op.type).kind === 'task') return;
    const { values, unknownKeys } = resolveProperties(
      planned.config,
      rc.scope((n) => attrs.get(n)),
    );
    if (unknownKeys.length) return;
    const key = randomUUID();
    const written = state.putIntent(flock, target, {
      address: op.address,
      type: op.type,
      idempotencyKey: key,
      properties: values,
      dependencies: [...planned.config.dependsOn],
      createdAt: new Date().toISOString(),
    });
    // Awaited by its create, or before it is cleared; a failure surfaces there.
    written.catch(() => {});
    aheadIntents.set(op.address, { key, values, written });
  };

  const ready: Node[] = [...nodes.values()].filter((n) => n.waitsFor.size === 0);
  // The ready operations' intents first, highest first (the order they start in), then their
  // dependents': the group commit takes writes in order, so the first wave's intents are committed in
  // the first batches instead of behind a batch of every intent written at the start.
  const firstWave = [...ready].sort((a, b) => b.height - a.height);
  for (const node of firstWave) writeAhead(node);
  for (const node of firstWave) for (const d of node.dependents) writeAhead(nodes.get(d)!);
  // `running` counts operations holding a parallelism slot (provider work); `inflight` those not yet
  // settled (their state record may still be being written after they released their slot).
  let running = 0;
  let inflight = 0;

  await new Promise<void>((resolveAll) => {
    /*
     * An operation releases its dependents as soon as its provider call has answered and its attributes
     * are known, not after its state record is committed: a dependent needs the attributes, and crash
     * safety does not need the order — each create is covered by its own intent (committed before its
     * call), so a crash at any instant still leaves every created resource either recorded or behind an
     * intent that the next refresh resolves. This takes one database round trip off every level of the
     * critical path. The apply itself ends only when every record is committed.
     */
    const release = (node: Node): void => {
      if (node.released || node.state !== 'running') return;
      node.released = true;
      running--;
      for (const d of node.dependents) {
        const dn = nodes.get(d)!;
        dn.waitsFor.delete(node.op.address);
        if (dn.waitsFor.size === 0 && dn.state === 'pending') ready.push(dn);
      }
      pump();
    };
    const finish = (node: Node, ok: boolean): void => {
      inflight--;
      if (node.released) {
        // Dependents already went on; a record that failed after that fails this operation only.
        node.state = ok ? 'done' : 'failed';
        pump();
        return;
      }
      node.state = ok ? 'done' : 'failed';
      running--;
      for (const d of node.dependents) {
        const dn = nodes.get(d)!;
        dn.waitsFor.delete(node.op.address);
        if (!ok) skip(dn, node.op.address);
        else if (dn.waitsFor.size === 0 && dn.state === 'pending') ready.push(dn);
      }
      pump();
    };
    const skip = (node: Node, because: string): void => {
      if (node.state !== 'pending') return;
      node.state = 'skipped';
      results.push({
        address: node.op.address,
        action: node.op.action,
        ok: false,
        error: `skipped: ${because} failed`,
        attempts: 0,
      });
      for (const d of node.dependents) skip(nodes.get(d)!, node.op.address);
    };
    const pump = (): void => {
      if (rc.signal.aborted) ready.length = 0;
      while (running < rc.parallelism && ready.length > 0) {
        let best = 0;
        for (let i = 1; i < ready.length; i++) if (ready[i]!.height > ready[best]!.height) best = i;
        const node = ready.splice(best, 1)[0]!;
        if (node.state !== 'pending') continue;
        node.state = 'running';
        running++;
        inflight++;
        for (const d of node.dependents) writeAhead(nodes.get(d)!);
        rc.opts.onEvent?.({ kind: 'op-start', address: node.op.address, action: node.op.action });
        runOne(node.op, () => release(node)).then(
          (r) => {
            results.push(r);
            rc.opts.onEvent?.({
              kind: 'op-done',
              address: r.address,
              action: r.action,
              ok: r.ok,
              ...(r.error ? { error: r.error } : {}),
            });
            finish(node, r.ok);
          },
          (e: unknown) => {
            const error = e instanceof Error ? e.message : String(e);
            results.push({ address: node.op.address, action: node.op.action, ok: false, error, attempts: 1 });
            rc.opts.onEvent?.({
              kind: 'op-done',
              address: node.op.address,
              action: node.op.action,
              ok: false,
              error,
            });
            finish(node, false);
          },
        );
      }
      if (running === 0 && inflight === 0) resolveAll();
    };
    pump();
  });

  for (const node of nodes.values()) {
    if (node.state === 'pending') {
      results.push({
        address: node.op.address,
        action: node.op.action,
        ok: false,
        error: 'not started: cancelled',
        attempts: 0,
      });
    }
  }

  // Intents written ahead for creates that never ran (skipped, cancelled) go now, not at the next refresh.
  // Each after its own write has settled, so a clear never lands before the intent it clears.
  await Promise.all(
    [...aheadIntents].map(async ([address, { written }]) => {
      await written.catch(() => {});
      await state.clearIntent(flock, target, address).catch(() => {});
    }),
  );

  return { plan, ok: results.every((r) => r.ok), serial: lastSerial, results };

  async function record(change: Parameters<StateBackend['commit']>[2], clearIntent = false): Promise<void> {
    const serial = await state.commit(flock, target, change, { clearIntent });
    if (serial > lastSerial) lastSerial = serial;
  }

  /** Runs one operation; calls `release` once its provider work is done (see above). */
  async function runOne(op: PlanOperation, release: () => void): Promise<OpResult> {
    const type = rc.typeOf(op.type);
    const ctx = rc.providerContext(op.type);
    const prior = snapshot.resources.get(op.address);
    const priorAttrs = (current.get(op.address) ?? prior?.attributes) as Attributes | undefined;
    let attempts = 0;
    const retrying = <T>(fn: () => Promise<T>): Promise<T> =>
      withRetry(
        fn,
        rc.retry,
        (attempt, delayMs, error) =>
          rc.opts.onEvent?.({ kind: 'retry', address: op.address, attempt, delayMs, error: error.message }),
        rc.signal,
      ).then(
        (r) => {
          attempts += r.attempts;
          return r.value;
        },
        (e: unknown) => {
          attempts += (e as { attempts?: number }).attempts ?? 1;
          throw e;
        },
      );

    if (op.action === 'delete') {
      if (type.kind !== 'task' && prior)
        await retrying(() => type.delete(ctx, prior.id, priorAttrs ?? prior.attributes));
      attrs.delete(op.address);
      release();
      await record({ kind: 'remove', address: op.address, action: 'delete' });
      return { address: op.address, action: op.action, ok: true, attempts: Math.max(attempts, 1) };
    }

    const planned = desired.get(op.address);
    if (!planned) throw new DroverError('INTERNAL', `no desired resource for ${op.address}`);
    const cfg = planned.config;
    const { values, unknownKeys } = resolveProperties(
      cfg,
      rc.scope((n) => attrs.get(n)),
    );
    if (unknownKeys.length) {
      throw new DroverError(
        'INTERNAL',
        `${op.address}: values still unknown at apply time: ${unknownKeys.join(', ')}`,
      );
    }
    const base = {
      address: op.address,
      type: op.type,
      properties: values,
      dependencies: [...cfg.dependsOn],
      releaseId: rc.releaseId,
      executionId: rc.executionId,
    };

    if (type.kind === 'task') {
      try {
        const out = await retrying(() => type.create(ctx, values, { idempotencyKey: randomUUID() }));
        attrs.set(op.address, out);
        release();
        await record({
          kind: 'put',
          action: op.action,
          resource: { ...base, id: out.id, attributes: out, status: 'SUCCEEDED' },
        });
        return { address: op.address, action: op.action, ok: true, attempts };
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        const failedAttrs: Attributes = {
          ...(priorAttrs ?? {}),
          id: prior?.id ?? randomUUID(),
          status: 'FAILED',
          error,
        };
        await record({
          kind: 'put',
          action: op.action,
          resource: { ...base, id: failedAttrs.id, attributes: failedAttrs, status: 'FAILED' },
        });
        return { address: op.address, action: op.action, ok: false, error, attempts };
      }
    }

    try {
      if (op.action === 'update' && prior && type.update) {
        const out = await retrying(() => type.update!(ctx, prior.id, values, priorAttrs ?? prior.attributes));
        attrs.set(op.address, out);
        release();
        await record({ kind: 'put', action: 'update', resource: { ...base, id: out.id, attributes: out } });
        return { address: op.address, action: op.action, ok: true, attempts };
      }
      if ((op.action === 'replace' || op.action === 'update') && prior && current.get(op.address) !== null) {
        const priorType = rc.typeOf(prior.type);
        await retrying(() =>
          priorType.delete(rc.providerContext(prior.type), prior.id, priorAttrs ?? prior.attributes),
        );
        await record({ kind: 'remove', address: op.address, action: 'replace:delete' });
      }
      const ahead = aheadIntents.get(op.address);
      aheadIntents.delete(op.address);
      let idempotencyKey: string;
      if (ahead && isDeepStrictEqual(ahead.values, values)) {
        await ahead.written; // the create's intent is committed before its call
        idempotencyKey = ahead.key;
      } else {
        // A written-ahead intent that no longer fits is replaced, never overtaken by its own late write.
        if (ahead) await ahead.written.catch(() => {});
        idempotencyKey = randomUUID();
        await state.putIntent(flock, target, {
          address: op.address,
          type: op.type,
          idempotencyKey,
          properties: values,
          dependencies: [...cfg.dependsOn],
          createdAt: new Date().toISOString(),
        });
      }
      const out = await retrying(() => type.create(ctx, values, { idempotencyKey }));
      attrs.set(op.address, out);
      release();
      await record(
        {
          kind: 'put',
          action: op.action === 'replace' ? 'replace:create' : 'create',
          resource: { ...base, id: out.id, attributes: out },
        },
        true,
      );
      return { address: op.address, action: op.action, ok: true, attempts };
    } catch (e) {
      // A failed create leaves its intent: the next refresh looks the key up and adopts or clears it.
      const error = e instanceof Error ? e.message : String(e);
      rc.log.error('operation failed', { address: op.address, action: op.action, error });
      return { address: op.address, action: op.action, ok: false, error, attempts: Math.max(attempts, 1) };
    }
  }
}

function computeHeights(nodes: Map<string, Node>): void {
  const memo = new Map<string, number>();
  const height = (address: string, seen: Set<string>): number => {
    const m = memo.get(address);
    if (m !== undefined) return m;
    if (seen.has(address)) return 0;
    seen.add(address);
    let h = 0;
    for (const d of nodes.get(address)!.dependents) h = Math.max(h, 1 + height(d, seen));
    seen.delete(address);
    memo.set(address, h);
    return h;
  };
  for (const [address, node] of nodes) node.height = height(address, new Set());
}

export type { ResourceState };
