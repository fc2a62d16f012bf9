/**
 * Property: for any generated resource graph, apply then plan is empty (and the simulator holds exactly
 * what state records). Runs on the suite's store (PGlite, or PostgreSQL with DATABASE_URL).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlock } from '../../src/config/index.ts';
import { apply, plan } from '../../src/engine/index.ts';
import { defaultCatalog } from '../../src/providers/index.ts';
import { DbStateBackend } from '../../src/store/index.ts';
import { openTestDb, type TestDb } from '../helpers/db.ts';
import { startTestSim, type TestSim } from '../helpers/sim.ts';

let sim: TestSim;
let tdb: TestDb;
let root: string;
beforeAll(async () => {
  sim = await startTestSim();
  tdb = await openTestDb();
  root = mkdtempSync(join(tmpdir(), 'drover-prop-'));
});
afterAll(async () => {
  await sim.close();
  await tdb.cleanup();
  rmSync(root, { recursive: true, force: true });
});

interface Node {
  kind: 'bucket' | 'user' | 'network' | 'instance' | 'file' | 'dns';
  deps: number[];
}

/** A DAG: node i may depend only on nodes < i. */
const graphArb = fc
  .array(
    fc.record({
      kind: fc.constantFrom<Node['kind']>('bucket', 'user', 'network', 'instance', 'file', 'dns'),
      deps: fc.array(fc.nat(), { maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 12 },
  )
  .map((nodes) =>
    nodes.map((n, i) => ({ ...n, deps: i === 0 ? [] : [...new Set(n.deps.map((d) => d % i))] })),
  );

let round = 0;

function flockYaml(nodes: Node[], region: string): string {
  const lines = [
    'flock: prop',
    `targets: [{ name: t, region: ${region} }]`,
    'providers:',
    '  sim: { endpoint: "${env.DROVER_SIM_URL}" }',
    'resources:',
  ];
  nodes.forEach((n, i) => {
    const name = `n${i}`;
    const depNames = n.deps.map((d) => `n${d}`);
    const netDep = n.deps.find((d) => nodes[d]!.kind === 'network');
    const anyDep = depNames[0];
    const dependsOn = depNames.length ? `, depends_on: [${depNames.join(', ')}]` : '';
    switch (n.kind) {
      case 'bucket':
        lines.push(`  ${name}: { type: sim.bucket, properties: { name: "${region}-${name}" }${dependsOn} }`);
        break;
      case 'user':
        lines.push(
          `  ${name}: { type: sim.user, properties: { name: "${anyDep ? `\${${anyDep}.id}` : region}-${name}" }${dependsOn} }`,
        );
        break;
      case 'network':
        lines.push(
          `  ${name}: { type: sim.network, properties: { name: "${region}-${name}", cidr: 10.${i}.0.0/16 }${dependsOn} }`,
        );
        break;
      case 'instance':
        if (netDep === undefined) {
          lines.push(
            `  ${name}: { type: sim.bucket, properties: { name: "${region}-${name}" }${dependsOn} }`,
          );
        } else {
          lines.push(
            `  ${name}: { type: sim.instance, properties: { name: "${region}-${name}", network: "\${n${netDep}.id}", shape: small }${dependsOn} }`,
          );
        }
        break;
      case 'dns':
        lines.push(
          `  ${name}: { type: sim.dns_record, properties: { name: "${region}-${name}", type: TXT, value: "${anyDep ? `\${${anyDep}.id}` : 'x'}" }${dependsOn} }`,
        );
        break;
      case 'file':
        lines.push(
          `  ${name}: { type: local.file, properties: { path: "${name}.txt", content: "${anyDep ? `dep=\${${anyDep}.id}` : 'root'}" }${dependsOn} }`,
        );
        break;
      default: {
        const never: never = n.kind;
        throw new Error(`unreachable ${String(never)}`);
      }
    }
  });
  return lines.join('\n') + '\n';
}

describe('apply then plan is always empty', () => {
  it('holds over generated graphs (and after a second, changed graph over the same state)', async () => {
    const catalog = defaultCatalog();
    await fc.assert(
      fc.asyncProperty(graphArb, graphArb, async (first, second) => {
        const region = `p${round++}`;
        const dir = mkdtempSync(join(root, 'f-'));
        const opts = {
          catalog,
          state: new DbStateBackend(tdb.db),
          http: sim.http,
          env: { DROVER_SIM_URL: sim.url },
          parallelism: 4,
        };
        for (const nodes of [first, second]) {
          writeFileSync(join(dir, 'flock.yaml'), flockYaml(nodes, region));
          const config = await loadFlock(dir, catalog);
          const r = await apply(config, { target: 't', artifacts: {} }, opts);
          expect(r.ok, JSON.stringify(r.results.filter((x) => !x.ok))).toBe(true);
          const p = await plan(config, { target: 't', artifacts: {} }, opts);
          expect(p.operations.filter((o) => o.action !== 'no-op')).toEqual([]);
          const state = await opts.state.load('prop', 't');
          const inState = [...state.resources.values()]
            .filter((x) => x.type.startsWith('sim.'))
            .map((x) => x.id)
            .sort();
          const inSim = (await sim.resources())
            .filter((x) => x.region === region)
            .map((x) => x.id)
            .sort();
          expect(inSim).toEqual(inState);
        }
        // Leave the simulator clean for the next case: destroy.
        const config = await loadFlock(dir, catalog);
        expect((await apply(config, { target: 't', artifacts: {}, destroy: true }, opts)).ok).toBe(true);
        expect((await sim.resources()).filter((x) => x.region === region)).toEqual([]);
      }),
      {
        numRuns: Number(process.env.DROVER_PROP_RUNS ?? 25),
        seed: process.env.DROVER_PROP_SEED ? Number(process.env.DROVER_PROP_SEED) : undefined,
      },
    );
  }, 600_000);
});
