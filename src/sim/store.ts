/**
 * @module sim/store — the simulator's in-memory world: resources per region and kind, unique names,
 * idempotency keys. All synchronous, so one request's check-then-act cannot interleave with another's.
 */
import { ID_PREFIX, type Kind, type Properties } from './kinds.ts';
import { randomHex, type Random } from './random.ts';

/** `PROVISIONING` for `provisionMs` after create, then `AVAILABLE`. */
export type ResourceState = 'PROVISIONING' | 'AVAILABLE';

export interface SimResource {
  readonly id: string;
  readonly kind: Kind;
  readonly region: string;
  readonly createdMs: number;
  updatedMs: number;
  readonly idempotencyKey: string | null;
  props: Properties;
  /** Instances only. */
  deployedVersion: string | null;
  deployedMs: number | null;
}

export interface InventoryItem {
  readonly kind: Kind;
  readonly id: string;
  readonly name: string;
  readonly region: string;
  readonly state: ResourceState;
}

export type CreateOutcome =
  | { readonly outcome: 'created'; readonly resource: SimResource }
  | { readonly outcome: 'existing'; readonly resource: SimResource }
  | { readonly outcome: 'name_taken'; readonly holder: SimResource };

export class SimStore {
  private readonly byId = new Map<string, SimResource>();
  /** `region\0kind\0name` → id. */
  private readonly names = new Map<string, string>();
  /** `region\0kind\0key` → id. */
  private readonly idempotency = new Map<string, string>();

  constructor(
    private readonly rng: Random,
    private readonly provisionMs: number,
  ) {}

  state(r: SimResource, nowMs: number): ResourceState {
    return nowMs - r.createdMs >= this.provisionMs ? 'AVAILABLE' : 'PROVISIONING';
  }

  get(id: string): SimResource | undefined {
    return this.byId.get(id);
  }

  /** The resource with this id, if it is of that kind in that region. */
  find(region: string, kind: Kind, id: string): SimResource | undefined {
    const r = this.byId.get(id);
    return r && r.region === region && r.kind === kind ? r : undefined;
  }

  list(region: string, kind: Kind, filter: { name?: string; idempotencyKey?: string }): SimResource[] {
    let candidates: SimResource[];
    if (filter.name !== undefined || filter.idempotencyKey !== undefined) {
      const id =
        filter.name !== undefined
          ? this.names.get(`${region}\u0000${kind}\u0000${filter.name}`)
          : this.idempotency.get(`${region}\u0000${kind}\u0000${filter.idempotencyKey}`);
      const r = id === undefined ? undefined : this.byId.get(id);
      candidates = r ? [r] : [];
    } else {
      candidates = [];
      for (const r of this.byId.values()) if (r.region === region && r.kind === kind) candidates.push(r);
    }
    if (filter.idempotencyKey !== undefined)
      candidates = candidates.filter((r) => r.idempotencyKey === filter.idempotencyKey);
    return candidates;
  }

  /** Same idempotency key → the resource it made; else a taken name → name_taken; else created. */
  create(
    region: string,
    kind: Kind,
    props: Properties,
    idempotencyKey: string | null,
    nowMs: number,
  ): CreateOutcome {
    const idemKey = idempotencyKey === null ? undefined : `${region}\u0000${kind}\u0000${idempotencyKey}`;
    if (idemKey !== undefined) {
      const prior = this.idempotency.get(idemKey);
      const r = prior === undefined ? undefined : this.byId.get(prior);
      if (r) return { outcome: 'existing', resource: r };
    }
    const nameKey = `${region}\u0000${kind}\u0000${props.name}`;
    const holderId = this.names.get(nameKey);
    const holder = holderId === undefined ? undefined : this.byId.get(holderId);
    if (holder) return { outcome: 'name_taken', holder };
    let id: string;
    do id = ID_PREFIX[kind] + randomHex(this.rng, 12);
    while (this.byId.has(id));
    const resource: SimResource = {
      id,
      kind,
      region,
      createdMs: nowMs,
      updatedMs: nowMs,
      idempotencyKey,
      props,
      deployedVersion: null,
      deployedMs: null,
    };
    this.byId.set(id, resource);
    this.names.set(nameKey, id);
    if (idemKey !== undefined) this.idempotency.set(idemKey, id);
    return { outcome: 'created', resource };
  }

  update(r: SimResource, props: Properties, nowMs: number): void {
    r.props = props;
    r.updatedMs = nowMs;
  }

  deploy(r: SimResource, version: string, nowMs: number): void {
    r.deployedVersion = version;
    r.deployedMs = nowMs;
    r.updatedMs = nowMs;
  }

  /** Deleting frees the name and the idempotency key. */
  delete(r: SimResource): void {
    this.byId.delete(r.id);
    this.names.delete(`${r.region}\u0000${r.kind}\u0000${r.props.name}`);
    if (r.idempotencyKey !== null)
      this.idempotency.delete(`${r.region}\u0000${r.kind}\u0000${r.idempotencyKey}`);
  }

  inventory(nowMs: number, region?: string): InventoryItem[] {
    const out: InventoryItem[] = [];
    for (const r of this.byId.values()) {
      if (region !== undefined && r.region !== region) continue;
      out.push({ kind: r.kind, id: r.id, name: r.props.name, region: r.region, state: this.state(r, nowMs) });
    }
    return out;
  }

  clear(): void {
    this.byId.clear();
    this.names.clear();
    this.idempotency.clear();
  }
}
