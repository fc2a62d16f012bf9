/**
 * @module store/commit-bench — commits per second of DbStateBackend.commit, the call on the critical
 * path of every resource operation of an apply. Prints the figure for PGlite (a fresh temp data dir)
 * and, with DATABASE_URL, for PostgreSQL (a fresh database, dropped after), side by side with the
 * peer it is compared with: a plain INSERT of the same row (the floor one round trip costs).
 *
 *   npx tsx src/store/commit-bench.ts [commits=2000] [parallelism=32]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { ResourceState } from '../engine/state-types.ts';
import { DbStateBackend, openStore } from './index.ts';
import type { Db } from './types.ts';

const total = Number(process.argv[2] ?? 2000);
const parallelism = Number(process.argv[3] ?? 32);

function resource(i: number): ResourceState {
  return {
    address: `res_${i}`,
    type: 'sim.bucket',
    id: `id-${i}`,
    properties: { name: `bucket-${i}`, region: 'us-east-1', tags: { team: 'drover', n: i } },
    attributes: {
      id: `id-${i}`,
      name: `bucket-${i}`,
      arn: `arn:sim:bucket:${i}`,
      created: '2026-01-01T00:00:00Z',
    },
    dependencies: i > 0 ? [`res_${i - 1}`] : [],
  };
}

/** Runs fn(0..n-1) with at most `parallelism` in flight; returns the rate per second. */
async function rate(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallelism }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return n / ((performance.now() - start) / 1000);
}

async function bench(label: string, db: Db): Promise<void> {
  const state = new DbStateBackend(db);
  await state.load('bench', 'warmup');
  for (let i = 0; i < 50; i++)
    await state.commit('bench', 'warmup', { kind: 'put', resource: resource(i), action: 'create' });

  // A real table (a temp table would exist on one pooled connection only); the database is thrown away.
  await db.query('CREATE TABLE bench_floor (k text PRIMARY KEY, v jsonb)');
  const floor = await rate(total, (i) =>
    db.query('INSERT INTO bench_floor (k, v) VALUES ($1, $2::jsonb)', [`k${i}`, JSON.stringify(resource(i))]),
  );
  await state.load('bench', 'run');
  const commits = await rate(total, (i) =>
    state.commit(
      'bench',
      'run',
      { kind: 'put', resource: resource(i), action: 'create' },
      { clearIntent: true },
    ),
  );
  const snap = await state.load('bench', 'run');
  if (snap.serial !== total || snap.resources.size !== total)
    throw new Error(`bench: wrong final state ${snap.serial}`);
  console.log(
    `${label.padEnd(10)} commit: ${commits.toFixed(0).padStart(6)}/s   ` +
      `(peer: one plain INSERT round trip ${floor.toFixed(0)}/s; ${total} ops, parallelism ${parallelism})`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'drover-commit-bench-'));
try {
  const db = await openStore({ dataDir: dir });
  try {
    await bench('pglite', db);
  } finally {
    await db.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const adminUrl = process.env['DATABASE_URL'];
if (adminUrl) {
  const name = `drover_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    const db = await openStore({ databaseUrl: u.toString() });
    try {
      await bench('postgres', db);
    } finally {
      await db.close();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
} else {
  console.log('postgres   (skipped: set DATABASE_URL to measure PostgreSQL too)');
}
