/*
 * Fuzzes the flock parser: whatever the bytes, loadFlock resolves or throws DroverError CONFIG_INVALID
 * (never a TypeError, never a stack trace). 5,000 cases in all.
 */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { DroverError } from '../errors.ts';
import { loadFlock } from './index.ts';
import { testCatalog } from './testing.ts';

const VALID = `flock: hello
description: fuzz base
rollback: auto
artifacts:
  app: { kind: file }
targets:
  - name: beta
    realm: r1
    tenancy: beta
    region: sim-1
    approval: auto
  - name: prod
    region: sim-east
    after: [beta]
providers:
  sim: { endpoint: "\${env.SIM_URL}" }
resources:
  net:
    type: sim.network
    properties: { cidr: 10.0.0.0/16, name: "hello-\${target.name}" }
  vm:
    type: sim.instance
    depends_on: [net]
    properties: { name: vm, network: "\${net.id}", shape: small, count: 2 }
    targets: { tenancy: [beta] }
  deploy:
    type: drover.deployment
    properties: { instance: "\${vm.id}", artifact: "\${artifacts.app.version}" }
`;

const catalog = testCatalog();
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'drover-fuzz-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Loads the given files; fails the property on anything but success or CONFIG_INVALID. */
async function loadsOrConfigInvalid(main: string, sibling?: string): Promise<void> {
  await writeFile(path.join(dir, 'flock.yaml'), main);
  if (sibling === undefined) await unlink(path.join(dir, 'extra.yaml')).catch(() => undefined);
  else await writeFile(path.join(dir, 'extra.yaml'), sibling);
  try {
    await loadFlock(dir, catalog);
  } catch (e) {
    if (!(e instanceof DroverError) || e.code !== 'CONFIG_INVALID') {
      throw new Error(
        `unexpected ${e instanceof Error ? e.stack : String(e)}\n--- flock.yaml ---\n${main}\n--- extra.yaml ---\n${sibling ?? ''}`,
      );
    }
    // every problem is located, and the message lists them
    for (const p of e.problems) {
      expect(p.location?.line).toBeGreaterThanOrEqual(1);
      expect(p.location?.column).toBeGreaterThanOrEqual(1);
    }
    expect(e.problems.length).toBeGreaterThan(0);
  }
}

const yamlChars = fc.constantFrom(
  ...'abcdefghijklmnopqrstuvwxyz_-.0123456789 :{}[],"\'$#&*!|>?%@`\\\n\t'.split(''),
  '${',
  '}',
  '$${',
  '\n  ',
  '\n    ',
  '- ',
  ': ',
  '__proto__',
  'constructor',
  '${net.id}',
  '${env.X}',
  '${target.name}',
  '<<: ',
  '*a',
  '&a ',
  '---\n',
);
const yamlish = fc.array(yamlChars, { maxLength: 80 }).map((a) => a.join(''));

type Mutation = { op: 'delete' | 'insert' | 'dupline' | 'swaplines'; at: number; len: number; text: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('delete', 'insert', 'dupline', 'swaplines'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 12 }),
  text: yamlish,
});

function mutate(text: string, muts: readonly Mutation[]): string {
  let s = text;
  for (const m of muts) {
    const at = s.length === 0 ? 0 : m.at % s.length;
    switch (m.op) {
      case 'delete':
        s = s.slice(0, at) + s.slice(at + m.len);
        break;
      case 'insert':
        s = s.slice(0, at) + m.text + s.slice(at);
        break;
      case 'dupline':
      case 'swaplines': {
        const lines = s.split('\n');
        const i = m.at % lines.length;
        const j = (m.at + m.len) % lines.length;
        if (m.op === 'dupline') lines.splice(i, 0, lines[i]!);
        else [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        s = lines.join('\n');
        break;
      }
      default: {
        const never: never = m.op;
        throw new Error(String(never));
      }
    }
  }
  return s;
}

/** Random YAML-able values, biased to strings that look like the format's own words. */
const word = fc.constantFrom(
  'flock',
  'targets',
  'resources',
  'type',
  'properties',
  'name',
  'region',
  'after',
  'depends_on',
  'net',
  'vm',
  'sim.network',
  '${vm.id}',
  '${net.name}',
  '${',
  '',
  'beta',
  '__proto__',
);
const leaf = fc.oneof(
  word,
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(word, fc.string({ maxLength: 6 })), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** Sets a random path of the valid flock (as data) to a random value, then renders it as YAML. */
function structuralMutation(segments: readonly (string | number)[], v: unknown): string {
  const root = parse(VALID) as Record<string, unknown>;
  let node: unknown = root;
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i]!;
    if (node === null || typeof node !== 'object') break;
    const keys = Object.keys(node);
    const key = typeof seg === 'number' ? keys[seg % Math.max(1, keys.length)] : seg;
    if (key === undefined) break;
    const next = (node as Record<string, unknown>)[key];
    if (next === null || typeof next !== 'object') {
      Object.defineProperty(node, key, { value: v, enumerable: true, writable: true, configurable: true });
      return stringify(root);
    }
    node = next;
  }
  if (node !== null && typeof node === 'object') {
    const last = segments[segments.length - 1];
    const keys = Object.keys(node);
    const key = typeof last === 'number' ? (keys[last % Math.max(1, keys.length)] ?? 'x') : (last ?? 'x');
    Object.defineProperty(node, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return stringify(root);
}

describe('loadFlock fuzz', () => {
  it('the valid base loads', async () => {
    await expect(
      loadFlock(await (async () => (await writeFile(path.join(dir, 'flock.yaml'), VALID), dir))(), catalog),
    ).resolves.toMatchObject({
      flock: 'hello',
    });
  });

  it('random YAML-ish text (2,000 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(yamlish, fc.option(yamlish), async (main, sibling) =>
        loadsOrConfigInvalid(main, sibling ?? undefined),
      ),
      { numRuns: 2000 },
    );
  }, 120_000);

  it('random text mutations of a valid flock (2,000 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.option(fc.array(mutation, { maxLength: 3 })),
        async (muts, sib) =>
          loadsOrConfigInvalid(
            mutate(VALID, muts),
            sib
              ? mutate('resources:\n  extra: { type: sim.bucket, properties: { name: x } }\n', sib)
              : undefined,
          ),
      ),
      { numRuns: 2000 },
    );
  }, 120_000);

  it('random structural mutations of a valid flock (1,000 cases)', async () => {
    const seg = fc.oneof(fc.nat({ max: 8 }), word);
    await fc.assert(
      fc.asyncProperty(fc.array(seg, { minLength: 1, maxLength: 5 }), value, async (segments, v) =>
        loadsOrConfigInvalid(structuralMutation(segments, v)),
      ),
      { numRuns: 1000 },
    );
  }, 120_000);
});
