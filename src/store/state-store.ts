/**
 * @module store/state-store — the engine's StateBackend on the database (local mode and the server).
 *
 * Tables and the commit function are in migrations/0001_state.sql. Every change is one call of
 * `drover_state_commit`: one round trip, one transaction, serial + 1, one history row.
 *
 * Lineage: `load` of a state never written creates its row (serial 0, a fresh random lineage) with
 * `ON CONFLICT DO NOTHING`, so every process that loads it afterwards sees the same lineage and a plan
 * saved against serial 0 stays valid for `apply --plan` in another process. Nothing else is written
 * before the first commit; a commit without a prior load creates the row itself.
 */
import { randomUUID } from 'node:crypto';
import { DroverError } from '../errors.ts';
import type { Attributes } from '../providers/types.ts';
import type {
  Intent,
  LoadOptions,
  ResourceState,
  StateBackend,
  StateChange,
  StateSnapshot,
  TaskStatus,
} from '../engine/state-types.ts';
import { groupCommit, type GroupWriter } from './group-commit.ts';
import type { Db, Queryable } from './types.ts';

/** One recorded change. `after` is null when the change removed the resource. */
export interface HistoryEntry {
  readonly serial: number;
  readonly address: string;
  readonly action: string;
  readonly before: ResourceState | null;
  readonly after: ResourceState | null;
  /** ISO 8601, UTC. */
  readonly at: string;
}

export interface HistoryOptions {
  /** Only entries with a serial greater than this (paging). */
  readonly afterSerial?: number;
  /** At most this many entries. */
  readonly limit?: number;
  /** Only changes to this address. */
  readonly address?: string;
  /** Newest first (default oldest first). */
  readonly descending?: boolean;
}

export interface StateSummary {
  readonly flock: string;
  readonly target: string;
  readonly lineage: string;
  readonly serial: number;
  readonly resourceCount: number;
  /** ISO 8601, UTC. */
  readonly updatedAt: string;
}

type ResourceJson = {
  address: string;
  type: string;
  id: string;
  properties?: Record<string, unknown> | null;
  attributes?: Record<string, unknown> | null;
  dependencies?: string[] | null;
  releaseId?: string | null;
  executionId?: string | null;
  status?: string | null;
};

type IntentJson = {
  address: string;
  type: string;
  idempotencyKey: string;
  properties: Record<string, unknown>;
  dependencies: string[];
  createdAt: string;
};

/** The canonical JSON of a resource (absent optionals omitted), as history and the commit take it. */
function resourceToJson(r: ResourceState): ResourceJson {
  return {
    address: r.address,
    type: r.type,
    id: r.id,
    properties: { ...r.properties },
    attributes: { ...r.attributes },
    dependencies: [...r.dependencies],
    ...(r.releaseId !== undefined ? { releaseId: r.releaseId } : {}),
    ...(r.executionId !== undefined ? { executionId: r.executionId } : {}),
    ...(r.status !== undefined ? { status: r.status } : {}),
  };
}

/** `[address, type, id, properties, dependencies, release_id, execution_id, status]`: see resourceText. */
type RowTuple = [
  string,
  string,
  string,
  Record<string, unknown> | null,
  string[] | null,
  string | null,
  string | null,
  string | null,
];

type LoadedResource = [RowTuple, Record<string, unknown> | null];

/**
 * One element of a load's resources text (resourceText): the row and its attributes (or null). Once per
 * resource of every load, so it is written out plainly: the optional ids set on the object instead of
 * spread into it (three spreads were three more objects per resource).
 */
function resourceFromLoad(loaded: LoadedResource): ResourceState {
  const row = loaded[0];
  const attributes = loaded[1];
  const id = row[2];
  const r: { -readonly [K in keyof ResourceState]: ResourceState[K] } = {
    address: row[0],
    type: row[1],
    id,
    properties: row[3] ?? {},
    // Attributes carry the id; stored ones nearly always do already (no copy then: a large state is
    // 10,000 of them, loaded for every plan).
    attributes:
      attributes === null
        ? { id }
        : attributes['id'] != null
          ? (attributes as Attributes)
          : ({ ...attributes, id } as Attributes),
    dependencies: row[4] ?? [],
  };
  if (row[5] != null) r.releaseId = row[5];
  if (row[6] != null) r.executionId = row[6];
  if (row[7] != null) r.status = row[7] as TaskStatus;
  return r;
}

/** A resource from its canonical JSON (history's before and after). */
function resourceFromJson(j: ResourceJson): ResourceState {
  const row: RowTuple = [
    j.address,
    j.type,
    j.id,
    j.properties ?? null,
    j.dependencies ?? null,
    j.releaseId ?? null,
    j.executionId ?? null,
    j.status ?? null,
  ];
  return resourceFromLoad([row, j.attributes ?? null]);
}

function iso(v: unknown): string {
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}

// Timestamps inside JSON are formatted in SQL so they do not depend on the session's TimeZone.
const ISO_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** A state row's (`s`) pending intents as one JSON array, for the load statements below. */
const INTENTS_OF_STATE = `COALESCE((SELECT jsonb_agg(jsonb_build_object(
      'address', i.address, 'type', i.type, 'idempotencyKey', i.idempotency_key,
      'properties', i.properties, 'dependencies', i.dependencies,
      'createdAt', to_char(i.created_at AT TIME ZONE 'UTC', ${ISO_UTC})) ORDER BY i.address)
    FROM drover_state_intents i WHERE i.flock = s.flock AND i.target = s.target), '[]'::jsonb)`;

/**
 * A resource row as a load hands it over: `[row, attributes]`, where `row` is the row's `load_text`
 * (migration 0007: `[address, type, id, properties, dependencies, release_id, execution_id, status]`,
 * JSON text kept on every write) and `attributes` its attributes, or null where `withAttributes` is
 * false. The rows of a load are joined into ONE JSON text (parsed here): the database builds no JSON at
 * a load, so 10,000 resources cost PGlite ~15 ms instead of ~50 ms (json_agg of the rows), and the
 * engine gets one string instead of thousands of objects.
 */
const resourceText = (withAttributes: string): string => `'[' || COALESCE(r.load_text,
      json_build_array(r.address, r.type, r.id, r.properties, r.dependencies,
                       r.release_id, r.execution_id, r.status)::text)
    || ',' || CASE WHEN ${withAttributes} THEN r.attributes::text ELSE 'null' END || ']'`;

/** One statement, so the serial, resources and intents are one consistent snapshot. */
const LOAD_SQL = `
  SELECT s.lineage::text AS lineage, s.serial,
    (SELECT '[' || string_agg(${resourceText('true')}, ',' ORDER BY r.address) || ']'
       FROM drover_state_resources r WHERE r.flock = s.flock AND r.target = s.target) AS resources,
    ${INTENTS_OF_STATE} AS intents
  FROM drover_states s WHERE s.flock = $1 AND s.target = $2`;

/*
 * A streamed load (LoadOptions.onResources) reads the same snapshot in pages, in one read-only
 * REPEATABLE READ transaction, so every page sees what the head saw: the head (serial, intents, how many
 * resources), then pages (FIRST_PAGE_SIZE resources, then PAGE_SIZE each) in address order (keyset:
 * after the last address of the page before). The next page is asked for before the one at hand is
 * parsed and handed on, so the database produces page n + 1 while the engine starts reading page n's
 * resources from their providers. The first page is small so that those reads start within a few ms.
 */
const HEAD_SQL = `
  SELECT s.lineage::text AS lineage, s.serial,
    (SELECT count(*) FROM drover_state_resources r WHERE r.flock = s.flock AND r.target = s.target)::int
      AS count,
    ${INTENTS_OF_STATE} AS intents
  FROM drover_states s WHERE s.flock = $1 AND s.target = $2`;

const PAGE_SQL = `
  SELECT '[' || string_agg(${resourceText('$5::text[] IS NULL OR r.type = ANY($5::text[])')}, ','
                           ORDER BY r.address) || ']' AS resources,
         max(r.address) AS last
    FROM (SELECT * FROM drover_state_resources r
           WHERE r.flock = $1 AND r.target = $2 AND r.address > $3
           ORDER BY r.address LIMIT $4) r`;

/** Resources per page of a streamed load (a few ms of PGlite's time each), after the first page's. */
const PAGE_SIZE = 1000;
const FIRST_PAGE_SIZE = 100;

interface HeadRow {
  lineage: string;
  serial: number;
  count: number;
  intents: IntentJson[];
}

interface PageRow {
  resources: string | null;
  last: string | null;
}

interface LoadRow {
  lineage: string;
  serial: number;
  /** The resource rows as one JSON text (resourceText); null when there are none. */
  resources: string | null;
  intents: IntentJson[];
}

/**
 * Most writes one group commit carries. It bounds a statement's size and, above all, how long the
 * first writes of a burst wait: an apply writes a few hundred intents at its start, and the creates
 * that go first wait for the batch that holds theirs (64 writes: a few ms on PGlite; 256: ~40 ms).
 * Batches in the middle of a run are smaller than this anyway (~20).
 */
const MAX_BATCH = 64;

type BatchOp =
  | {
      readonly op: 'intent';
      readonly flock: string;
      readonly target: string;
      readonly lineage: string;
      readonly address: string;
      readonly type: string;
      readonly key: string;
      readonly properties: Readonly<Record<string, unknown>>;
      readonly dependencies: readonly string[];
      readonly created_at: string;
    }
  | {
      readonly op: 'commit';
      readonly flock: string;
      readonly target: string;
      readonly lineage: string;
      readonly address: string;
      readonly action: string;
      readonly resource: unknown;
      readonly clear: boolean;
    };

/**
 * Takes any Queryable: a Db, or the `tx` of a transaction, so a caller (the server's fenced state API)
 * can check a lease and commit atomically: `db.transaction((tx) => new DbStateBackend(tx).commit(…))`.
 */
export class DbStateBackend implements StateBackend {
  private readonly pageSize: number;
  private readonly firstPageSize: number;

  /**
   * `pageSize`: resources per page of a streamed load, `firstPageSize` of its first page (at most
   * `pageSize`; tests use small pages).
   */
  constructor(
    private readonly db: Queryable,
    opts: { readonly pageSize?: number; readonly firstPageSize?: number } = {},
  ) {
    this.pageSize = Math.max(1, opts.pageSize ?? PAGE_SIZE);
    this.firstPageSize = Math.max(1, Math.min(opts.firstPageSize ?? FIRST_PAGE_SIZE, this.pageSize));
  }

  private prepared = false;

  /*
   * The first call of the write functions in a database session costs far more than the next ones:
   * PostgreSQL compiles the PL/pgSQL of drover_state_batch and drover_state_commit and plans each of
   * their statements (~20 ms on PGlite in a fresh process; ~1 ms later). An apply's first creates wait
   * for their intents, so that cost would sit on the critical path. Called while the engine plans, this
   * runs one intent and one commit on a state no flock can have (flock '' — names are validated
   * non-empty) in a transaction that is rolled back: the session keeps the compiled functions and their
   * plans, the database keeps nothing. PGlite only: it is one session, so the next writes find it ready;
   * a PostgreSQL pool's other connections would each plan for themselves anyway.
   */
  prepareWrites(): void {
    if (this.prepared) return;
    this.prepared = true;
    const db = this.db as Partial<Db>;
    if (db.kind !== 'pglite' || typeof db.transaction !== 'function') return;
    const rollback = new Error('rollback');
    const ops: BatchOp[] = [
      {
        op: 'intent',
        flock: '',
        target: '',
        lineage: randomUUID(),
        address: 'warm',
        type: 'warm',
        key: randomUUID(),
        properties: {},
        dependencies: [],
        created_at: new Date().toISOString(),
      },
      {
        op: 'commit',
        flock: '',
        target: '',
        lineage: randomUUID(),
        address: 'warm',
        action: 'create',
        resource: {
          address: 'warm',
          type: 'warm',
          id: 'warm',
          properties: {},
          attributes: {},
          dependencies: [],
        },
        clear: true,
      },
    ];
    db.transaction(async (tx) => {
      await tx.query('SELECT drover_state_batch($1::jsonb)', [JSON.stringify(ops)]);
      throw rollback;
    }).catch(() => {});
  }

  async load(flock: string, target: string, opts: LoadOptions = {}): Promise<StateSnapshot> {
    const db = this.db as Partial<Db>;
    if (opts.onResources && typeof db.transaction === 'function') {
      const { onResources } = opts;
      const streamed = await db.transaction((tx) =>
        this.loadPaged(tx, flock, target, { ...opts, onResources }),
      );
      if (streamed) return streamed;
    }
    let row = (await this.db.query<LoadRow>(LOAD_SQL, [flock, target])).rows[0];
    if (!row) {
      await this.db.query(
        `INSERT INTO drover_states (flock, target, lineage, serial) VALUES ($1, $2, $3, 0)
         ON CONFLICT (flock, target) DO NOTHING`,
        [flock, target, randomUUID()],
      );
      row = (await this.db.query<LoadRow>(LOAD_SQL, [flock, target])).rows[0];
      if (!row) throw new DroverError('INTERNAL', `state ${flock}/${target} vanished while being created`);
    }
    const resources = new Map<string, ResourceState>();
    if (row.resources !== null)
      for (const j of JSON.parse(row.resources) as LoadedResource[]) {
        const r = resourceFromLoad(j);
        resources.set(r.address, r);
      }
    const intents = new Map<string, Intent>();
    for (const i of row.intents) intents.set(i.address, i);
    return { flock, target, lineage: row.lineage, serial: Number(row.serial), resources, intents };
  }

  /** The streamed load (see PAGE_SQL); null for a state never written (load creates its row). */
  private async loadPaged(
    tx: Queryable,
    flock: string,
    target: string,
    opts: LoadOptions & Required<Pick<LoadOptions, 'onResources'>>,
  ): Promise<StateSnapshot | null> {
    const { onResources } = opts;
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const head = (await tx.query<HeadRow>(HEAD_SQL, [flock, target])).rows[0];
    if (!head) return null;
    const intents = new Map<string, Intent>();
    for (const i of head.intents) intents.set(i.address, i);
    const info = { total: Number(head.count), intents: intents.size };
    const resources = new Map<string, ResourceState>();
    const page = (after: string, size: number): Promise<{ rows: PageRow[] }> =>
      tx.query<PageRow>(PAGE_SQL, [flock, target, after, size, opts.attributesOnlyFor ?? null]);
    // Pages are full but the last (the snapshot cannot change under the transaction), so there is a
    // next page while fewer than the count were asked for.
    let asked = this.firstPageSize;
    let pending = info.total > 0 ? page('', asked) : null;
    while (pending) {
      const row = (await pending).rows[0];
      if (!row?.resources || row.last === null) break;
      // The next page is on its way while this one is parsed and handed on.
      pending = asked < info.total ? page(row.last, this.pageSize) : null;
      asked += this.pageSize;
      const batch: ResourceState[] = [];
      for (const j of JSON.parse(row.resources) as LoadedResource[]) {
        const r = resourceFromLoad(j);
        resources.set(r.address, r);
        batch.push(r);
      }
      onResources(batch, info);
    }
    return { flock, target, lineage: head.lineage, serial: Number(head.serial), resources, intents };
  }

  async putIntent(flock: string, target: string, intent: Intent): Promise<void> {
    // The state row must exist for the engine's lineage to be stable; load() made it, but a caller
    // that skipped load still gets one here (the batch function inserts it if missing).
    await this.write({
      op: 'intent',
      flock,
      target,
      lineage: randomUUID(),
      address: intent.address,
      type: intent.type,
      key: intent.idempotencyKey,
      properties: intent.properties,
      dependencies: intent.dependencies,
      created_at: intent.createdAt,
    });
  }

  async commit(
    flock: string,
    target: string,
    change: StateChange,
    opts: { clearIntent?: boolean } = {},
  ): Promise<number> {
    let address: string;
    let resource: ResourceJson | null;
    switch (change.kind) {
      case 'put':
        address = change.resource.address;
        resource = resourceToJson(change.resource);
        break;
      case 'remove':
        address = change.address;
        resource = null;
        break;
      default: {
        const never: never = change;
        throw new DroverError('INTERNAL', `unknown state change ${JSON.stringify(never)}`);
      }
    }
    return this.write({
      op: 'commit',
      flock,
      target,
      lineage: randomUUID(),
      address,
      action: change.action,
      resource,
      clear: opts.clearIntent === true,
    });
  }

  /*
   * Group commit (group-commit.ts): writes that arrive while another is in flight go together in the
   * next round trip, one call of drover_state_batch, so one transaction and one flush for the group.
   * Each caller's promise settles only once its own record is committed; a failed group is retried
   * one write at a time, so a bad write fails only its own caller.
   */
  private readonly write: GroupWriter<BatchOp, number> = groupCommit((ops) => this.runBatch(ops), MAX_BATCH);

  private async runBatch(ops: readonly BatchOp[]): Promise<number[]> {
    const { rows } = await this.db.query<{ serials: number[] }>(
      'SELECT drover_state_batch($1::jsonb) AS serials',
      [JSON.stringify(ops)],
    );
    return (rows[0]?.serials ?? []).map(Number);
  }

  async clearIntent(flock: string, target: string, address: string): Promise<void> {
    await this.db.query(
      'DELETE FROM drover_state_intents WHERE flock = $1 AND target = $2 AND address = $3',
      [flock, target, address],
    );
  }

  /** The recorded changes of a state, oldest first unless `descending`. */
  async history(flock: string, target: string, opts: HistoryOptions = {}): Promise<HistoryEntry[]> {
    const params: unknown[] = [flock, target, opts.afterSerial ?? -1];
    let sql = `SELECT serial, address, action, before, after, at FROM drover_state_history
                WHERE flock = $1 AND target = $2 AND serial > $3`;
    if (opts.address !== undefined) {
      params.push(opts.address);
      sql += ` AND address = $${params.length}`;
    }
    sql += ` ORDER BY serial ${opts.descending ? 'DESC' : 'ASC'}`;
    if (opts.limit !== undefined) {
      params.push(Math.max(0, Math.floor(opts.limit)));
      sql += ` LIMIT $${params.length}`;
    }
    const { rows } = await this.db.query<{
      serial: number;
      address: string;
      action: string;
      before: ResourceJson | null;
      after: ResourceJson | null;
      at: Date | string;
    }>(sql, params);
    return rows.map((r) => ({
      serial: Number(r.serial),
      address: r.address,
      action: r.action,
      before: r.before ? resourceFromJson(r.before) : null,
      after: r.after ? resourceFromJson(r.after) : null,
      at: iso(r.at),
    }));
  }

  /**
   * The resources as they were right after change `serial` (0: empty), rebuilt from history: per
   * address, the latest change at or below it. Intents are not versioned, so the map is empty.
   */
  async stateAt(flock: string, target: string, serial: number): Promise<StateSnapshot> {
    const head = (
      await this.db.query<{ lineage: string; serial: number }>(
        'SELECT lineage::text AS lineage, serial FROM drover_states WHERE flock = $1 AND target = $2',
        [flock, target],
      )
    ).rows[0];
    if (!head || !Number.isInteger(serial) || serial < 0 || serial > Number(head.serial)) {
      throw new DroverError('NOT_FOUND', `state ${flock}/${target} has no serial ${serial}`, {
        details: { flock, target, serial, latest: head ? Number(head.serial) : null },
      });
    }
    const { rows } = await this.db.query<{ after: ResourceJson | null }>(
      `SELECT DISTINCT ON (address) address, after FROM drover_state_history
        WHERE flock = $1 AND target = $2 AND serial <= $3
        ORDER BY address, serial DESC`,
      [flock, target, serial],
    );
    const resources = new Map<string, ResourceState>();
    for (const r of rows) if (r.after) resources.set(r.after.address, resourceFromJson(r.after));
    return { flock, target, lineage: head.lineage, serial, resources, intents: new Map() };
  }

  /** Every state in the store, by flock then target (including loaded but never written ones, serial 0). */
  async listStates(): Promise<StateSummary[]> {
    const { rows } = await this.db.query<{
      flock: string;
      target: string;
      lineage: string;
      serial: number;
      resource_count: number;
      updated_at: Date | string;
    }>(
      `SELECT s.flock, s.target, s.lineage::text AS lineage, s.serial, s.updated_at,
              (SELECT count(*) FROM drover_state_resources r WHERE r.flock = s.flock AND r.target = s.target) AS resource_count
         FROM drover_states s ORDER BY s.flock, s.target`,
    );
    return rows.map((r) => ({
      flock: r.flock,
      target: r.target,
      lineage: r.lineage,
      serial: Number(r.serial),
      resourceCount: Number(r.resource_count),
      updatedAt: iso(r.updated_at),
    }));
  }
}
