/**
 * DbStateBackend on the store of this run (PGlite, or PostgreSQL when DATABASE_URL is set).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb } from '../../test/helpers/db.ts';
import type { ResourceState } from '../engine/state-types.ts';
import { DroverError } from '../errors.ts';
import { DbStateBackend } from './state-store.ts';
import type { Db } from './types.ts';

function res(address: string, id: string, extra: Partial<ResourceState> = {}): ResourceState {
  return {
    address,
    type: 'sim.bucket',
    id,
    properties: { name: address, tags: ['a', 'b'], nested: { n: 1, nil: null } },
    attributes: { id, arn: `arn:${id}` },
    dependencies: [],
    ...extra,
  };
}

let t: TestDb;
let state: DbStateBackend;

beforeEach(async () => {
  t = await openTestDb();
  state = new DbStateBackend(t.db);
});
afterEach(async () => {
  await t?.cleanup();
});

describe('load', () => {
  it('returns serial 0, no resources and a lineage that stays the same for a state never written', async () => {
    const a = await state.load('web', 'us-east');
    expect(a.serial).toBe(0);
    expect(a.resources.size).toBe(0);
    expect(a.intents.size).toBe(0);
    expect(a.lineage).toMatch(/^[0-9a-f-]{36}$/);
    // Another backend (another process, in effect) sees the same lineage: a plan saved at serial 0
    // must not look stale to it.
    const b = await new DbStateBackend(t.db).load('web', 'us-east');
    expect(b.lineage).toBe(a.lineage);
    const other = await state.load('web', 'eu-west');
    expect(other.lineage).not.toBe(a.lineage);
    expect((await state.history('web', 'us-east')).length).toBe(0);
  });
});

describe('load text (migration 0007)', () => {
  // Values that JSON must escape, in every text column the load text carries.
  const odd = (i: number): ResourceState =>
    res(`q"${i}\\`, `id "${i}" \\ \u0001 ü 😀`, {
      type: 'drover.test',
      properties: { cmd: 'echo "a\\b"\n', 'k"ey': [1, '\t'] },
      attributes: { id: `id "${i}" \\ \u0001 ü 😀`, out: '"\u2028"' },
      dependencies: ['d"1', 'd\\2'],
      releaseId: 'rel "1"',
      executionId: 'ex\\1',
      status: 'SUCCEEDED',
    });

  it('hands back every value as committed, in a plain and a streamed load, text that needs escaping too', async () => {
    const paged = new DbStateBackend(t.db, { pageSize: 2 });
    const written = [odd(1), odd(2), odd(3), res('plain', 'p-1')];
    for (const r of written) await paged.commit('f', 't', { kind: 'put', resource: r, action: 'create' });
    const byAddress = new Map(written.map((r) => [r.address, r]));
    expect(new Map((await paged.load('f', 't')).resources)).toEqual(byAddress);
    const streamed: ResourceState[] = [];
    const snap = await paged.load('f', 't', { onResources: (b) => streamed.push(...b) });
    expect(new Map(snap.resources)).toEqual(byAddress);
    expect(streamed).toHaveLength(written.length);
  });

  it('is kept by every write, and a row without it (written past the trigger) still loads whole', async () => {
    await state.commit('f', 't', { kind: 'put', resource: odd(1), action: 'create' });
    const updated = { ...odd(1), id: 'id-2', properties: { cmd: 'new' } };
    await state.commit('f', 't', { kind: 'put', resource: updated, action: 'update' });
    const { rows } = await t.db.query<{ load_text: string }>(
      `SELECT load_text FROM drover_state_resources WHERE flock = 'f' AND target = 't'`,
    );
    expect(JSON.parse(rows[0]!.load_text)).toEqual([
      updated.address,
      updated.type,
      'id-2',
      { cmd: 'new' },
      updated.dependencies,
      updated.releaseId,
      updated.executionId,
      updated.status,
    ]);
    await t.db.transaction(async (tx) => {
      await tx.query('ALTER TABLE drover_state_resources DISABLE TRIGGER drover_resource_load_text');
      await tx.query(`UPDATE drover_state_resources SET load_text = NULL WHERE flock = 'f'`);
      await tx.query('ALTER TABLE drover_state_resources ENABLE TRIGGER drover_resource_load_text');
    });
    expect((await state.load('f', 't')).resources.get(updated.address)).toEqual(updated);
    const streamed = await state.load('f', 't', { onResources: () => undefined });
    expect(streamed.resources.get(updated.address)).toEqual(updated);
  });
});

describe('streamed load', () => {
  it('hands over every resource once, in address order and in pages, and resolves the same snapshot', async () => {
    const paged = new DbStateBackend(t.db, { pageSize: 4 });
    for (let i = 0; i < 10; i++)
      await paged.commit('f', 't', { kind: 'put', resource: res(`r${i}`, `id-${i}`), action: 'create' });
    const batches: string[][] = [];
    const heads: { total: number; intents: number }[] = [];
    const snap = await paged.load('f', 't', {
      onResources: (batch, head) => {
        batches.push(batch.map((r) => r.address));
        heads.push(head);
      },
    });
    expect(batches).toEqual([
      ['r0', 'r1', 'r2', 'r3'],
      ['r4', 'r5', 'r6', 'r7'],
      ['r8', 'r9'],
    ]);
    expect(heads).toEqual(Array(3).fill({ total: 10, intents: 0 }));
    const plain = await paged.load('f', 't');
    expect(snap).toEqual(plain);
    expect([...snap.resources.keys()]).toEqual([...plain.resources.keys()]);
  });

  it('hands over a smaller first page, then full pages, whether or not the last one is full', async () => {
    const paged = new DbStateBackend(t.db, { pageSize: 4, firstPageSize: 2 });
    for (let i = 0; i < 10; i++)
      await paged.commit('f', 't', { kind: 'put', resource: res(`r${i}`, `id-${i}`), action: 'create' });
    const sizes = async (): Promise<number[]> => {
      const out: number[] = [];
      const snap = await paged.load('f', 't', { onResources: (b) => out.push(b.length) });
      expect(out.reduce((a, b) => a + b, 0)).toBe(snap.resources.size);
      return out;
    };
    expect(await sizes()).toEqual([2, 4, 4]);
    await paged.commit('f', 't', { kind: 'put', resource: res('r10', 'id-10'), action: 'create' });
    expect(await sizes()).toEqual([2, 4, 4, 1]);
    await paged.commit('f', 't', { kind: 'remove', address: 'r0', action: 'delete' });
    await paged.commit('f', 't', { kind: 'remove', address: 'r1', action: 'delete' });
    await paged.commit('f', 't', { kind: 'remove', address: 'r2', action: 'delete' });
    await paged.commit('f', 't', { kind: 'remove', address: 'r3', action: 'delete' });
    await paged.commit('f', 't', { kind: 'remove', address: 'r4', action: 'delete' });
    expect(await sizes()).toEqual([2, 4]);
  });

  it('is one snapshot: a commit made while the pages are read is not in it', async () => {
    let late: Promise<number> | undefined;
    // On PostgreSQL the commit runs on another connection, and the later pages wait until it is done;
    // on PGlite (one session) it waits for the load's transaction, so there it cannot get in anyway.
    const waitsForLate = t.db.kind === 'pg';
    const db: Db = {
      ...t.db,
      kind: t.db.kind,
      query: (sql, params) => t.db.query(sql, params),
      transaction: (fn) =>
        t.db.transaction((tx) =>
          fn({
            query: async (sql, params) => {
              if (waitsForLate && late && sql.includes('json_agg')) await late;
              return tx.query(sql, params);
            },
          }),
        ),
    };
    const paged = new DbStateBackend(db, { pageSize: 2 });
    for (let i = 0; i < 6; i++)
      await paged.commit('f', 't', { kind: 'put', resource: res(`r${i}`, `id-${i}`), action: 'create' });
    const snap = await paged.load('f', 't', {
      onResources: () => {
        late ??= new DbStateBackend(t.db).commit('f', 't', {
          kind: 'put',
          resource: res('r35', 'id-35'), // sorts into the last page
          action: 'create',
        });
      },
    });
    expect(await late).toBe(7);
    expect(snap.serial).toBe(6);
    expect([...snap.resources.keys()]).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect((await paged.load('f', 't')).resources.has('r35')).toBe(true);
  });

  it('leaves stored attributes out but for the types asked for (a plan), and only then', async () => {
    const paged = new DbStateBackend(t.db, { pageSize: 2 });
    const task = res('deploy', 'd-1', {
      type: 'drover.deployment',
      attributes: { id: 'd-1', status: 'SUCCEEDED', outputs: { url: 'u' } },
    });
    await paged.commit('f', 't', { kind: 'put', resource: task, action: 'create' });
    await paged.commit('f', 't', { kind: 'put', resource: res('b', 'b-1'), action: 'create' });
    await paged.commit('f', 't', { kind: 'put', resource: res('c', 'c-1'), action: 'create' });
    const lite = await paged.load('f', 't', {
      onResources: () => {},
      attributesOnlyFor: ['drover.deployment'],
    });
    expect(lite.resources.get('deploy')?.attributes).toEqual(task.attributes);
    expect(lite.resources.get('b')?.attributes).toEqual({ id: 'b-1' });
    expect(lite.resources.get('c')?.properties).toEqual(res('c', 'c-1').properties);
    const full = await paged.load('f', 't', { onResources: () => {} });
    expect(full.resources.get('b')?.attributes).toEqual({ id: 'b-1', arn: 'arn:b-1' });
    expect(full).toEqual(await paged.load('f', 't'));
  });

  it('tells how many intents are pending, and streams nothing for a state never written', async () => {
    const paged = new DbStateBackend(t.db, { pageSize: 2 });
    const calls: unknown[] = [];
    const fresh = await paged.load('new', 't', { onResources: (b, h) => calls.push([b.length, h]) });
    expect(fresh.serial).toBe(0);
    expect(calls).toEqual([]);
    await paged.commit('f', 't', { kind: 'put', resource: res('a', 'a-1'), action: 'create' });
    await paged.putIntent('f', 't', {
      address: 'b',
      type: 'sim.bucket',
      idempotencyKey: 'k-b',
      properties: {},
      dependencies: [],
      createdAt: new Date().toISOString(),
    });
    const snap = await paged.load('f', 't', { onResources: (b, h) => calls.push([b.length, h]) });
    expect(calls).toEqual([[1, { total: 1, intents: 1 }]]);
    expect([...snap.intents.keys()]).toEqual(['b']);
  });
});

describe('commit', () => {
  it('loads a resource with its release id, execution id and status as committed', async () => {
    const task = res('deploy', 'd-1', {
      type: 'drover.deployment',
      releaseId: 'rel-1',
      executionId: 'ex-1',
      status: 'SUCCEEDED',
    });
    const plain = res('bucket', 'b-1');
    await state.commit('web', 'prod', { kind: 'put', resource: task, action: 'create' });
    await state.commit('web', 'prod', { kind: 'put', resource: plain, action: 'create' });
    const snap = await state.load('web', 'prod');
    expect(snap.resources.get('deploy')).toEqual(task);
    expect(snap.resources.get('bucket')).toEqual(plain);
    expect('releaseId' in snap.resources.get('bucket')!).toBe(false);
  });

  it('records puts and removes with serial + 1, full history and reloadable resources', async () => {
    const { lineage } = await state.load('web', 'prod');
    const r1 = res('bucket', 'b-1', { dependencies: ['net'] });
    expect(await state.commit('web', 'prod', { kind: 'put', resource: r1, action: 'create' })).toBe(1);
    const task = res('deploy', 'd-1', {
      type: 'drover.deployment',
      releaseId: 'rel-1',
      executionId: 'ex-1',
      status: 'FAILED',
    });
    expect(await state.commit('web', 'prod', { kind: 'put', resource: task, action: 'create' })).toBe(2);
    const r1b = { ...r1, properties: { name: 'bucket', size: 2 } };
    expect(await state.commit('web', 'prod', { kind: 'put', resource: r1b, action: 'update' })).toBe(3);
    expect(await state.commit('web', 'prod', { kind: 'remove', address: 'deploy', action: 'delete' })).toBe(
      4,
    );

    const snap = await state.load('web', 'prod');
    expect(snap.lineage).toBe(lineage);
    expect(snap.serial).toBe(4);
    expect([...snap.resources.keys()]).toEqual(['bucket']);
    expect(snap.resources.get('bucket')).toEqual(r1b);

    const h = await state.history('web', 'prod');
    expect(h.map((e) => [e.serial, e.address, e.action])).toEqual([
      [1, 'bucket', 'create'],
      [2, 'deploy', 'create'],
      [3, 'bucket', 'update'],
      [4, 'deploy', 'delete'],
    ]);
    expect(h[0]!.before).toBeNull();
    expect(h[0]!.after).toEqual(r1);
    expect(h[1]!.after).toEqual(task); // releaseId / executionId / status round-trip
    expect(h[2]!.before).toEqual(r1);
    expect(h[2]!.after).toEqual(r1b);
    expect(h[3]!.before).toEqual(task);
    expect(h[3]!.after).toBeNull();
    expect(Date.parse(h[3]!.at)).toBeGreaterThanOrEqual(Date.parse(h[0]!.at));

    expect((await state.history('web', 'prod', { address: 'deploy' })).map((e) => e.serial)).toEqual([2, 4]);
    expect((await state.history('web', 'prod', { afterSerial: 1, limit: 2 })).map((e) => e.serial)).toEqual([
      2, 3,
    ]);
    expect((await state.history('web', 'prod', { descending: true, limit: 1 })).map((e) => e.serial)).toEqual(
      [4],
    );
  });

  it('works without a prior load (creates the state row itself)', async () => {
    expect(await state.commit('f', 't', { kind: 'put', resource: res('x', 'x-1'), action: 'create' })).toBe(
      1,
    );
    const snap = await state.load('f', 't');
    expect(snap.serial).toBe(1);
    expect(snap.lineage).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps states of different targets apart', async () => {
    await state.commit('f', 'a', { kind: 'put', resource: res('x', 'a-1'), action: 'create' });
    await state.commit('f', 'b', { kind: 'put', resource: res('x', 'b-1'), action: 'create' });
    await state.commit('f', 'b', { kind: 'put', resource: res('y', 'b-2'), action: 'create' });
    expect((await state.load('f', 'a')).resources.get('x')?.id).toBe('a-1');
    expect((await state.load('f', 'b')).serial).toBe(2);
    const list = await state.listStates();
    expect(list.map((s) => [s.flock, s.target, s.serial, s.resourceCount])).toEqual([
      ['f', 'a', 1, 1],
      ['f', 'b', 2, 2],
    ]);
  });

  it('serialises 50 concurrent commits to one state into serials 1..50 exactly', async () => {
    const serials = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        state.commit('f', 'par', { kind: 'put', resource: res(`r${i}`, `id-${i}`), action: 'create' }),
      ),
    );
    expect([...serials].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const snap = await state.load('f', 'par');
    expect(snap.serial).toBe(50);
    expect(snap.resources.size).toBe(50);
    const h = await state.history('f', 'par');
    expect(h.map((e) => e.serial)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('keeps before/after exact under concurrent commits to the same address', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        state.commit('f', 'same', { kind: 'put', resource: res('x', `v${i}`), action: 'update' }),
      ),
    );
    const h = await state.history('f', 'same');
    expect(h.length).toBe(20);
    // Each change's `before` is exactly the previous change's `after`.
    for (let i = 1; i < h.length; i++) expect(h[i]!.before).toEqual(h[i - 1]!.after);
    expect((await state.load('f', 'same')).resources.get('x')).toEqual(h[19]!.after);
  });
});

describe('inside a caller transaction', () => {
  it('commits with it and rolls back with it', async () => {
    await state.commit('f', 't', { kind: 'put', resource: res('a', 'a-1'), action: 'create' });
    const serial = await t.db.transaction((tx) =>
      new DbStateBackend(tx).commit('f', 't', { kind: 'put', resource: res('b', 'b-1'), action: 'create' }),
    );
    expect(serial).toBe(2);
    const failed = await t.db
      .transaction(async (tx) => {
        await new DbStateBackend(tx).commit('f', 't', { kind: 'remove', address: 'a', action: 'delete' });
        throw new Error('lease lost');
      })
      .catch((e: unknown) => e);
    expect((failed as Error).message).toBe('lease lost');
    const snap = await state.load('f', 't');
    expect(snap.serial).toBe(2);
    expect([...snap.resources.keys()].sort()).toEqual(['a', 'b']);
    expect((await state.history('f', 't')).length).toBe(2);
  });
});

describe('prepareWrites', () => {
  it('leaves nothing behind, and the writes after it work as before', async () => {
    state.prepareWrites();
    state.prepareWrites(); // once per backend; a second call does nothing
    await state.load('f', 't');
    await state.putIntent('f', 't', {
      address: 'a',
      type: 'sim.bucket',
      idempotencyKey: 'k-1',
      properties: {},
      dependencies: [],
      createdAt: new Date().toISOString(),
    });
    expect(
      await state.commit(
        'f',
        't',
        { kind: 'put', resource: res('a', 'id-a'), action: 'create' },
        { clearIntent: true },
      ),
    ).toBe(1);
    const tables = [
      'drover_states',
      'drover_state_resources',
      'drover_state_history',
      'drover_state_intents',
    ];
    for (const table of tables) {
      const { rows } = await t.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table} WHERE flock = ''`,
      );
      expect(rows[0]!.n, table).toBe(0);
    }
    expect((await state.listStates()).map((s) => `${s.flock}/${s.target}:${s.serial}`)).toEqual(['f/t:1']);
  });
});

describe('intents', () => {
  it('are recorded, replaced, cleared by commit and by clearIntent, without moving the serial', async () => {
    await state.load('f', 't');
    const intent = {
      address: 'user',
      type: 'sim.user',
      idempotencyKey: 'k-1',
      properties: { name: 'nglass' },
      dependencies: ['group'],
      createdAt: '2026-01-02T03:04:05.678Z',
    };
    await state.putIntent('f', 't', intent);
    await state.putIntent('f', 't', { ...intent, address: 'other', idempotencyKey: 'k-2' });
    let snap = await state.load('f', 't');
    expect(snap.serial).toBe(0);
    expect(snap.intents.get('user')).toEqual(intent);
    expect(snap.intents.size).toBe(2);

    await state.putIntent('f', 't', { ...intent, idempotencyKey: 'k-3' });
    expect((await state.load('f', 't')).intents.get('user')?.idempotencyKey).toBe('k-3');

    // A commit without clearIntent leaves it; with clearIntent removes it in the same transaction.
    await state.commit('f', 't', { kind: 'put', resource: res('user', 'u-1'), action: 'create' });
    expect((await state.load('f', 't')).intents.has('user')).toBe(true);
    await state.commit(
      'f',
      't',
      { kind: 'put', resource: res('user', 'u-1'), action: 'create' },
      { clearIntent: true },
    );
    snap = await state.load('f', 't');
    expect(snap.intents.has('user')).toBe(false);
    expect(snap.intents.has('other')).toBe(true);
    expect(snap.serial).toBe(2);

    await state.clearIntent('f', 't', 'other');
    expect((await state.load('f', 't')).intents.size).toBe(0);
  });
});

describe('stateAt', () => {
  it('reconstructs every serial from history', async () => {
    const snapshots: Array<Map<string, ResourceState>> = [new Map()];
    const current = new Map<string, ResourceState>();
    const ops: Array<['put', ResourceState] | ['remove', string]> = [
      ['put', res('a', 'a-1')],
      ['put', res('b', 'b-1')],
      ['put', res('a', 'a-2')],
      ['remove', 'b'],
      ['put', res('c', 'c-1', { status: 'SUCCEEDED', releaseId: 'r' })],
      ['put', res('b', 'b-3')],
      ['remove', 'a'],
    ];
    for (const op of ops) {
      if (op[0] === 'put') {
        await state.commit('f', 't', { kind: 'put', resource: op[1], action: 'put' });
        current.set(op[1].address, op[1]);
      } else {
        await state.commit('f', 't', { kind: 'remove', address: op[1], action: 'delete' });
        current.delete(op[1]);
      }
      snapshots.push(new Map(current));
    }
    const { lineage } = await state.load('f', 't');
    for (let serial = 0; serial < snapshots.length; serial++) {
      const at = await state.stateAt('f', 't', serial);
      expect(at.serial).toBe(serial);
      expect(at.lineage).toBe(lineage);
      expect(new Map([...at.resources].sort())).toEqual(new Map([...snapshots[serial]!].sort()));
    }
  });

  it('refuses a serial that does not exist with NOT_FOUND', async () => {
    await state.commit('f', 't', { kind: 'put', resource: res('a', 'a-1'), action: 'create' });
    for (const bad of [2, -1, 1.5]) {
      const e = await state.stateAt('f', 't', bad).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DroverError);
      expect((e as DroverError).code).toBe('NOT_FOUND');
    }
    await expect(state.stateAt('f', 'nope', 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('the store under concurrent callers', () => {
  it('a statement issued while a transaction is open never runs inside it; transactions stay whole', async () => {
    const db = t.db;
    await db.query('CREATE TABLE pipe_probe (n int)');
    // A transaction that writes, waits (its session stays open meanwhile), writes again, and rolls back.
    const rolledBack = db
      .transaction(async (tx) => {
        await tx.query('INSERT INTO pipe_probe VALUES (1)');
        await new Promise((r) => setTimeout(r, 50));
        await tx.query('INSERT INTO pipe_probe VALUES (2)');
        throw new Error('roll it back');
      })
      .catch((e: Error) => e.message);
    // Issued while it is open, without waiting for one another.
    const plain = Array.from({ length: 20 }, (_, i) =>
      db.query('INSERT INTO pipe_probe VALUES ($1)', [100 + i]),
    );
    const committed = Array.from({ length: 10 }, (_, i) =>
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO pipe_probe VALUES ($1)', [200 + i]);
        await tx.query('INSERT INTO pipe_probe VALUES ($1)', [300 + i]);
      }),
    );
    expect(await rolledBack).toBe('roll it back');
    await Promise.all([...plain, ...committed]);
    const { rows } = await db.query<{ n: number }>('SELECT n FROM pipe_probe ORDER BY n');
    const expected = [
      ...Array.from({ length: 20 }, (_, i) => 100 + i),
      ...Array.from({ length: 10 }, (_, i) => 200 + i),
      ...Array.from({ length: 10 }, (_, i) => 300 + i),
    ];
    expect(rows.map((r) => r.n)).toEqual(expected);
  });
});
