/**
 * Crash safety (SPEC §3 "No orphans"): SIGKILL the real CLI at random points of an apply (and of a
 * destroy) against the simulator, 20 times. After each kill, a new run converges, and the simulator holds
 * exactly what state records: no orphan, no duplicate, the unique-name `sim.user` ("nglass") included.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, DbStateBackend } from '../../src/store/index.ts';
import { rng } from '../../bench/lib/flocks.ts';
import { startTestSim, type TestSim } from '../helpers/sim.ts';
import { openTestDb, type TestDb } from '../helpers/db.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ROUNDS = Number(process.env.DROVER_CRASH_ROUNDS ?? 20);

let sim: TestSim;
let tdb: TestDb;
let dir: string;
let storeArgs: string[];

beforeAll(async () => {
  // Latency makes an apply take a few seconds, so kills land mid-apply.
  sim = await startTestSim({ latencyMs: 40, jitterMs: 20 });
  dir = mkdtempSync(join(tmpdir(), 'drover-crash-'));
  tdb = await openTestDb();
  if (tdb.url) {
    storeArgs = ['--database-url', tdb.url];
  } else {
    // One process per PGlite directory: the CLI opens it, so the test's handle is closed first.
    await tdb.db.close();
    storeArgs = ['--data-dir', tdb.dataDir!];
  }
  const resources = [
    '  nglass: { type: sim.user, properties: { name: nglass } }',
    '  net: { type: sim.network, properties: { name: crash-net, cidr: 10.9.0.0/16 } }',
  ];
  for (let i = 0; i < 24; i++) {
    // One long chain: the run lasts ~24 simulator round trips whatever the store's speed, so kills at a
    // random point of the first 900 ms land mid-run.
    const dep = i === 0 ? '' : `, depends_on: [b${i - 1}]`;
    resources.push(`  b${i}: { type: sim.bucket, properties: { name: crash-b${i} }${dep} }`);
  }
  for (let i = 0; i < 4; i++) {
    resources.push(
      `  vm${i}: { type: sim.instance, properties: { name: crash-vm${i}, network: "\${net.id}", shape: small } }`,
    );
  }
  writeFileSync(
    join(dir, 'flock.yaml'),
    [
      'flock: crash',
      'targets: [{ name: t1, region: crash-1 }]',
      'providers:',
      '  sim: { endpoint: "${env.DROVER_SIM_URL}" }',
      'resources:',
      ...resources,
    ].join('\n') + '\n',
  );
});

afterAll(async () => {
  await sim?.close();
  await tdb?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function runCli(
  command: 'apply' | 'destroy',
  killAfterMs?: number,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['bin/drover.js', command, dir, '--target', 't1', '--yes', '--parallelism', '4', ...storeArgs],
      {
        cwd: root,
        env: { ...process.env, ...sim.keys, DROVER_SIM_URL: sim.url, DATABASE_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // Kill once the CLI has started working on the simulator (its first journal entry), after a random delay.
    let timer: NodeJS.Timeout | undefined;
    if (killAfterMs !== undefined) {
      const poll = setInterval(() => {
        void fetch(`${sim.url}/_journal`)
          .then((r) => r.json() as Promise<unknown[]>)
          .then((j) => {
            if (j.length > journalMark && !timer) {
              clearInterval(poll);
              timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
            }
          })
          .catch(() => {});
      }, 20);
      child.on('exit', () => clearInterval(poll));
    }
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

let journalMark = 0;

async function compareWorld(): Promise<{ inSim: string[]; inState: string[]; names: string[] }> {
  const db = tdb.url ? await openStore({ databaseUrl: tdb.url }) : await openStore({ dataDir: tdb.dataDir! });
  try {
    const state = await new DbStateBackend(db).load('crash', 't1');
    expect(state.intents.size).toBe(0);
    const inState = [...state.resources.values()].map((r) => r.id).sort();
    const sims = (await sim.resources()).filter((r) => r.region === 'crash-1');
    return { inSim: sims.map((r) => r.id).sort(), inState, names: sims.map((r) => r.name) };
  } finally {
    await db.close();
  }
}

describe('SIGKILL of the CLI mid-apply', () => {
  it(`converges with no orphans after ${ROUNDS} kills at random points`, async () => {
    const rand = rng(Number(process.env.DROVER_CRASH_SEED ?? 20261123));
    let killedMidway = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const command = round % 2 === 0 ? 'apply' : 'destroy';
      journalMark = ((await (await fetch(`${sim.url}/_journal`)).json()) as unknown[]).length;
      const killed = await runCli(command, Math.floor(rand() * 900));
      if (killed.signal === 'SIGKILL') killedMidway++;
      else expect(killed.code, killed.out).toBe(0);
      // A new run converges.
      const again = await runCli(command);
      expect(again.code, again.out).toBe(0);
      const world = await compareWorld();
      expect(world.inSim).toEqual(world.inState);
      expect(new Set(world.names).size).toBe(world.names.length);
      expect(world.inSim).toHaveLength(command === 'apply' ? 30 : 0);
    }
    console.log(`[crash] ${killedMidway}/${ROUNDS} kills landed mid-run`);
    // Most kills must really have landed mid-run, or the test proves nothing.
    expect(killedMidway).toBeGreaterThanOrEqual(Math.ceil(ROUNDS * 0.7));
  }, 900_000);
});
