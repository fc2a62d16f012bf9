import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DroverError } from '../errors.ts';
import type { Problem } from '../errors.ts';
import { loadFlock, targetOrder } from './index.ts';
import { tempFlocks, testCatalog } from './testing.ts';

const flocks = tempFlocks();
afterEach(() => flocks.cleanup());
const catalog = testCatalog();

/** Loads files that must fail; returns the error and its problems. */
async function problemsOf(
  files: Record<string, string>,
  env?: Record<string, string>,
): Promise<{ dir: string; err: DroverError; problems: readonly Problem[] }> {
  const dir = await flocks.make(files);
  const err = await loadFlock(dir, catalog, env ? { env } : {}).then(
    () => {
      throw new Error('expected loadFlock to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DroverError);
  expect((err as DroverError).code).toBe('CONFIG_INVALID');
  return { dir, err: err as DroverError, problems: (err as DroverError).problems };
}

/** Expects exactly one problem, at file:line:column, whose message contains every fragment. */
async function expectOne(
  files: Record<string, string>,
  at: [file: string, line: number, column: number],
  ...fragments: string[]
): Promise<Problem> {
  const { dir, problems } = await problemsOf(files);
  expect(problems, JSON.stringify(problems, null, 1)).toHaveLength(1);
  const p = problems[0]!;
  expect(p.location).toEqual({ file: path.join(dir, at[0]), line: at[1], column: at[2] });
  for (const f of fragments) expect(p.message).toContain(f);
  return p;
}

const HEAD = `flock: hello
targets:
  - name: beta
    region: sim-1
`;

describe('loadFlock: a valid flock', () => {
  it('yields the typed model with defaults, expressions and dependency edges', async () => {
    const dir = await flocks.make({
      'flock.yaml': `flock: hello
description: a small web service
rollback: auto
artifacts:
  app: { kind: image }
  cfg: {}
targets:
  - name: beta
    realm: r1
    tenancy: beta
    region: sim-1
    approval: auto
  - name: prod
    region: sim-east
    ad: ad-1
    after: [beta]
providers:
  sim: { endpoint: "\${env.SIM_URL}", retries: 3 }
resources:
  net:
    type: sim.network
    properties: { cidr: 10.0.0.0/16, name: "hello-\${target.name}" }
  vm:
    type: sim.instance
    depends_on: [net, logs]
    force_on_release: true
    properties: { name: vm, network: "\${net.id}", shape: small, count: 2 }
    targets: { tenancy: [beta], names: [beta] }
`,
      'more.yaml': `resources:
  logs:
    type: sim.bucket
    properties: { name: "cost: $\${1}" }
  deploy:
    type: drover.deployment
    properties: { instance: "\${vm.id}", artifact: "\${artifacts.app.version}" }
`,
    });
    const c = await loadFlock(dir, catalog);
    expect(c.flock).toBe('hello');
    expect(c.description).toBe('a small web service');
    expect(c.rollback).toBe('auto');
    expect(c.dir).toBe(path.resolve(dir));
    expect(c.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(c.artifacts.map((a) => [a.name, a.kind])).toEqual([
      ['app', 'image'],
      ['cfg', 'file'],
    ]);
    expect(c.targets[0]).toMatchObject({
      name: 'beta',
      realm: 'r1',
      tenancy: 'beta',
      region: 'sim-1',
      approval: 'auto',
      after: [],
    });
    expect(c.targets[1]).toMatchObject({
      name: 'prod',
      realm: 'default',
      tenancy: 'default',
      ad: 'ad-1',
      approval: 'manual',
      after: ['beta'],
    });
    expect(c.targets[1]!.location).toEqual({ file: path.join(dir, 'flock.yaml'), line: 13, column: 5 });
    expect(targetOrder(c).map((t) => t.name)).toEqual(['beta', 'prod']);

    const vm = c.resources.vm!;
    expect(vm.dependsOn).toEqual(['logs', 'net']);
    expect(vm.forceOnRelease).toBe(true);
    expect(vm.targets).toEqual({ tenancy: ['beta'], names: ['beta'] });
    expect(vm.location).toEqual({ file: path.join(dir, 'flock.yaml'), line: 23, column: 3 });
    expect(vm.properties.shape).toEqual({ kind: 'literal', value: 'small' });
    expect(vm.properties.count).toEqual({ kind: 'literal', value: 2 });
    expect(vm.properties.network).toEqual({
      kind: 'ref',
      ref: {
        scope: 'resource',
        name: 'net',
        path: ['id'],
        text: '${net.id}',
        location: { file: path.join(dir, 'flock.yaml'), line: 27, column: 39 },
      },
    });
    const net = c.resources.net!;
    expect(net.dependsOn).toEqual([]);
    expect(net.forceOnRelease).toBe(false);
    expect(net.properties.name).toMatchObject({
      kind: 'template',
      parts: ['hello-', { scope: 'target', field: 'name' }],
    });
    // `$${` escapes a literal `${`
    expect(c.resources.logs!.properties.name).toEqual({ kind: 'literal', value: 'cost: ${1}' });
    expect(c.resources.logs!.location.file).toBe(path.join(dir, 'more.yaml'));
    expect(c.resources.deploy!.dependsOn).toEqual(['vm']);
    expect(c.resources.deploy!.properties.artifact).toMatchObject({
      kind: 'ref',
      ref: { scope: 'artifact', name: 'app' },
    });
    expect(c.providers.sim!.settings.endpoint).toMatchObject({
      kind: 'ref',
      ref: { scope: 'env', name: 'SIM_URL' },
    });
    expect(c.providers.sim!.settings.retries).toEqual({ kind: 'literal', value: 3 });
  });

  it('keeps nested lists and maps with references as list/object expressions', async () => {
    const dir = await flocks.make({
      'flock.yaml': `${HEAD}resources:
  net: { type: sim.network, properties: { name: n, cidr: 10.0.0.0/16 } }
  f:
    type: local.file
    properties: { path: /tmp/x, content: c, mode: "\${net.id}" }
`,
    });
    const c = await loadFlock(dir, catalog);
    expect(c.resources.f!.properties.path).toEqual({ kind: 'literal', value: '/tmp/x' });
    expect(c.resources.f!.dependsOn).toEqual(['net']);
  });

  it('digest depends on every file’s name and content', async () => {
    const a = await flocks.make({ 'flock.yaml': HEAD });
    const b = await flocks.make({ 'flock.yaml': HEAD });
    const c = await flocks.make({ 'flock.yaml': HEAD, 'extra.yaml': 'resources: {}\n' });
    const d = await flocks.make({ 'flock.yaml': HEAD + '# comment\n' });
    const [da, db, dc, dd] = await Promise.all(
      [a, b, c, d].map(async (x) => (await loadFlock(x, catalog)).digest),
    );
    expect(da).toBe(db);
    expect(new Set([da, dc, dd]).size).toBe(3);
  });
});

describe('loadFlock: not found', () => {
  it('CONFIG_NOT_FOUND for a missing directory', async () => {
    await expect(loadFlock('/nonexistent/drover-flock', catalog)).rejects.toMatchObject({
      code: 'CONFIG_NOT_FOUND',
    });
  });
  it('CONFIG_NOT_FOUND for a directory without flock.yaml', async () => {
    const dir = await flocks.make({ 'other.yaml': 'resources: {}\n' });
    await expect(loadFlock(dir, catalog)).rejects.toMatchObject({
      code: 'CONFIG_NOT_FOUND',
      message: expect.stringContaining('flock.yaml'),
    });
  });
});

describe('loadFlock: problems, each located', () => {
  it('YAML syntax errors', async () => {
    await expectOne(
      { 'flock.yaml': 'flock: hello\ntargets: [a, b\nresources: {}\n' },
      ['flock.yaml', 3, 1],
      'invalid YAML',
    );
  });

  it('YAML duplicate keys in one map', async () => {
    await expectOne(
      { 'flock.yaml': 'flock: hello\nflock: again\n' },
      ['flock.yaml', 2, 1],
      'invalid YAML',
      'unique',
    );
  });

  it('YAML duplicate keys in a nested block map and in a flow map', async () => {
    await expectOne(
      {
        'flock.yaml':
          'flock: hello\ntargets:\n  - { name: beta, region: r1 }\nresources:\n  a: { type: local.file }\n  b: { type: local.file }\n  a: { type: local.file }\n',
      },
      ['flock.yaml', 7, 3],
      'invalid YAML',
      'unique',
    );
    await expectOne(
      { 'flock.yaml': 'flock: hello\ntargets:\n  - { name: beta, name: gamma }\n' },
      ['flock.yaml', 3, 19],
      'invalid YAML',
      'unique',
    );
  });

  it('a flock.yaml that is not a map', async () => {
    await expectOne(
      { 'flock.yaml': '- a\n- b\n' },
      ['flock.yaml', 1, 1],
      'expected a map with at least `flock:`, got a list',
    );
  });

  it('missing `flock:`', async () => {
    await expectOne(
      { 'flock.yaml': 'description: x\n' },
      ['flock.yaml', 1, 1],
      'missing required key `flock`',
    );
  });

  it('unknown top-level key, with a suggestion', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}resourcs: {}\n` },
      ['flock.yaml', 5, 1],
      'unknown key `resourcs` at the top level',
      'did you mean `resources`?',
    );
  });

  it('unknown target key', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}    regoin: x\n` },
      ['flock.yaml', 5, 5],
      'targets[0]: unknown key `regoin`',
      'expected one of: ad, after, approval, name, realm, region, tenancy',
      'did you mean `region`?',
    );
  });

  it('unknown artifact key', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}artifacts:\n  app: { kind: file, version: 1 }\n` },
      ['flock.yaml', 6, 22],
      'artifacts.app: unknown key `version`',
      'expected one of: kind',
    );
  });

  it('unknown resource key', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  net:\n    type: sim.network\n    dependson: [x]\n    properties: { name: n, cidr: 10.0.0.0/16 }\n`,
      },
      ['flock.yaml', 8, 5],
      'resources.net: unknown key `dependson`',
      'did you mean `depends_on`?',
    );
  });

  it('wrong types: targets is not a list', async () => {
    await expectOne(
      { 'flock.yaml': 'flock: hello\ntargets: { name: beta }\n' },
      ['flock.yaml', 2, 10],
      'targets: expected a list, got a map',
    );
  });

  it('wrong types: a number where a string is expected', async () => {
    await expectOne(
      { 'flock.yaml': 'flock: hello\ntargets:\n  - name: beta\n    region: 5\n' },
      ['flock.yaml', 4, 13],
      'targets[0].region: expected a string, got the number 5',
    );
  });

  it('wrong types: force_on_release', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    force_on_release: "yes"\n    properties: { name: b }\n`,
      },
      ['flock.yaml', 8, 23],
      'resources.b.force_on_release: expected a boolean (true or false), got the string "yes"',
    );
  });

  it('wrong values: approval and rollback', async () => {
    const { dir, problems } = await problemsOf({
      'flock.yaml': `flock: hello\nrollback: sometimes\ntargets:\n  - name: beta\n    region: r\n    approval: yes\n`,
    });
    expect(problems.map((p) => [p.location?.line, p.location?.column, p.message])).toEqual([
      [2, 11, 'rollback: expected one of "auto", "manual", got the string "sometimes"'],
      [6, 15, 'targets[0].approval: expected one of "auto", "manual", got the string "yes"'],
    ]);
    expect(problems[0]!.location!.file).toBe(path.join(dir, 'flock.yaml'));
  });

  it('missing required target key', async () => {
    await expectOne(
      { 'flock.yaml': 'flock: hello\ntargets:\n  - name: beta\n    realm: r1\n' },
      ['flock.yaml', 3, 5],
      'targets[0]: missing required key `region` (expected a string)',
    );
  });

  it('bad flock name', async () => {
    await expectOne(
      { 'flock.yaml': 'flock: Hello_World\n' },
      ['flock.yaml', 1, 8],
      'flock: expected a name matching [a-z][a-z0-9-]{0,62}',
    );
  });

  it('bad target name', async () => {
    await expectOne(
      { 'flock.yaml': 'flock: hello\ntargets:\n  - name: 9beta\n    region: r\n' },
      ['flock.yaml', 3, 11],
      'targets[0].name: expected a name matching',
    );
  });

  it('bad resource name', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}resources:\n  Net:\n    type: sim.bucket\n` },
      ['flock.yaml', 6, 3],
      'invalid resource name `Net`',
      '[a-z_][a-z0-9_-]*',
    );
  });

  it('reserved resource name', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}resources:\n  target:\n    type: sim.bucket\n    properties: { name: b }\n` },
      ['flock.yaml', 6, 3],
      '`target` is reserved',
    );
  });

  it('duplicate target names', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}  - name: beta\n    region: sim-2\n` },
      ['flock.yaml', 5, 11],
      'targets[1].name: duplicate target name `beta`',
      'first declared at ' + '', // location of the first follows
    ).then((p) => expect(p.message).toMatch(/first declared at .*flock\.yaml:3:11/));
  });

  it('unknown resource type, suggesting the closest', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  net:\n    type: sim.netwrk\n    properties: { name: n, cidr: 10.0.0.0/16 }\n`,
      },
      ['flock.yaml', 7, 11],
      'resources.net.type: unknown resource type `sim.netwrk`',
      'did you mean `sim.network`?',
    );
  });

  it('unknown resource type far from every known one lists the known types', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}resources:\n  x:\n    type: aws.s3\n` },
      ['flock.yaml', 7, 11],
      'unknown resource type `aws.s3`',
      'known types: drover.deployment, local.file',
    );
  });

  it('unknown property for a type', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  vm:\n    type: sim.instance\n    properties:\n      name: vm\n      network: n\n      shape: small\n      shap: large\n`,
      },
      ['flock.yaml', 12, 7],
      'resources.vm.properties: unknown property `shap` for sim.instance',
      'expected one of: count, name, network, shape',
      'did you mean `shape`?',
    );
  });

  it('unknown property whose value is a reference is still reported', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties: { name: b, region: "\${target.region}" }\n`,
      },
      ['flock.yaml', 8, 28],
      'unknown property `region` for sim.bucket',
    );
  });

  it('invalid literal property values map to the value', async () => {
    const { problems } = await problemsOf({
      'flock.yaml': `${HEAD}resources:\n  vm:\n    type: sim.instance\n    properties:\n      name: vm\n      network: n\n      shape: huge\n      count: 1.5\n`,
    });
    expect(problems.map((p) => [p.location?.line, p.location?.column, p.message])).toEqual([
      [11, 14, 'resources.vm.properties.shape: expected one of "small", "large", got the string "huge"'],
      [12, 14, 'resources.vm.properties.count: expected an integer, got the number 1.5'],
    ]);
  });

  it('a refinement message of the type schema is kept', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  net:\n    type: sim.network\n    properties: { name: n, cidr: "ten" }\n`,
      },
      ['flock.yaml', 8, 34],
      'resources.net.properties.cidr: expected a CIDR block like 10.0.0.0/16',
    );
  });

  it('missing required property', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}resources:\n  net:\n    type: sim.network\n    properties: { name: n }\n` },
      ['flock.yaml', 8, 17],
      'resources.net.properties: missing required property `cidr` (expected a string)',
    );
  });

  it('a property holding a reference is not type-checked at load time', async () => {
    const dir = await flocks.make({
      'flock.yaml': `${HEAD}resources:\n  vm:\n    type: sim.instance\n    properties: { name: vm, network: n, shape: "\${target.name}", count: "\${target.ad}" }\n`,
    });
    await expect(loadFlock(dir, catalog)).resolves.toMatchObject({ flock: 'hello' });
  });

  it('dangling reference to a resource', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties: { name: "x-\${nett.id}" }\n`,
      },
      ['flock.yaml', 8, 28],
      'resources.b.properties.name: unknown resource `nett` in `${nett.id}`',
    );
  });

  it('dangling depends_on', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    depends_on: [c, nope]\n    properties: { name: b }\n  c: { type: sim.bucket, properties: { name: c } }\n`,
      },
      ['flock.yaml', 8, 21],
      'resources.b.depends_on: unknown resource `nope`',
    );
  });

  it('dangling after', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}  - name: prod\n    region: r\n    after: [beta, betta]\n` },
      ['flock.yaml', 7, 19],
      'targets[1].after: unknown target `betta`',
      'did you mean `beta`?',
    );
  });

  it('undeclared artifact', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}artifacts:\n  app: { kind: file }\nresources:\n  b:\n    type: sim.bucket\n    properties: { name: "\${artifacts.ap.version}" }\n`,
      },
      ['flock.yaml', 10, 26],
      'unknown artifact `ap` in `${artifacts.ap.version}` (declared: app)',
      'did you mean `app`?',
    );
  });

  it('env outside providers', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties: { name: "\${env.HOME}" }\n`,
      },
      ['flock.yaml', 8, 26],
      '`${env.HOME}` is not allowed here: environment variables may only be used in `providers`',
    );
  });

  it('resource references inside providers', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}providers:\n  sim: { endpoint: "\${b.id}" }\nresources:\n  b: { type: sim.bucket, properties: { name: b } }\n`,
      },
      ['flock.yaml', 6, 21],
      'provider settings cannot refer to resources',
    );
  });

  it('unknown scope', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties: { name: "a \${foo} b" }\n`,
      },
      ['flock.yaml', 8, 28],
      'unknown reference `${foo}`: expected target.name|realm|tenancy|region|ad',
    );
  });

  it('bad target field', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties: { name: "\${target.zone}" }\n`,
      },
      ['flock.yaml', 8, 26],
      'expected target.name, target.realm, target.tenancy, target.region or target.ad',
    );
  });

  it('unterminated ${', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties:\n      name: hello-\${target.name\n`,
      },
      ['flock.yaml', 9, 19],
      'resources.b.properties.name: unterminated `${` (expected `}` to close it)',
    );
  });

  it('references in block scalars point at the line inside the block', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  f:\n    type: local.file\n    properties:\n      path: /tmp/f\n      content: |\n        line one\n        uses \${missing.id} here\n`,
      },
      ['flock.yaml', 12, 14],
      'unknown resource `missing`',
    );
  });

  it('unknown provider, with a suggestion', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}providers:\n  simm: {}\n` },
      ['flock.yaml', 6, 3],
      'unknown provider `simm`',
      'did you mean `sim`?',
    );
  });

  it('env variables named in providers must be set when an env is given', async () => {
    const files = { 'flock.yaml': `${HEAD}providers:\n  sim: { endpoint: "\${env.SIM_URL}" }\n` };
    const { problems } = await problemsOf(files, { OTHER: 'x' });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain('environment variable `SIM_URL` is not set');
    expect(problems[0]!.location).toMatchObject({ line: 6, column: 21 });
    const dir = await flocks.make(files);
    await expect(loadFlock(dir, catalog, { env: { SIM_URL: 'http://x' } })).resolves.toBeTruthy();
  });

  it('resource cycles, as the full path', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:
  a: { type: sim.bucket, properties: { name: "\${b.name}" } }
  b: { type: sim.bucket, depends_on: [c], properties: { name: b } }
  c: { type: sim.bucket, properties: { name: "\${a.id}" } }
`,
      },
      ['flock.yaml', 6, 3],
      'resources: dependency cycle: a -> b -> c -> a',
    );
  });

  it('a resource referring to itself is a cycle', async () => {
    await expectOne(
      { 'flock.yaml': `${HEAD}resources:\n  a: { type: sim.bucket, properties: { name: "\${a.id}" } }\n` },
      ['flock.yaml', 6, 3],
      'dependency cycle: a -> a',
    );
  });

  it('target cycles, as the full path', async () => {
    await expectOne(
      {
        'flock.yaml': `flock: hello
targets:
  - { name: one, region: r, after: [three] }
  - { name: two, region: r, after: [one] }
  - { name: three, region: r, after: [two] }
`,
      },
      ['flock.yaml', 3, 5],
      'targets: cycle in `after`: one -> three -> two -> one',
    );
  });

  it('selector with unknown keys', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties: { name: b }\n    targets: { tenancies: [prod] }\n`,
      },
      ['flock.yaml', 9, 16],
      'resources.b.targets: unknown key `tenancies`',
      'did you mean `tenancy`?',
    );
  });

  it('selector naming an unknown target', async () => {
    await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  b:\n    type: sim.bucket\n    properties: { name: b }\n    targets: { names: [beta, prd] }\n`,
      },
      ['flock.yaml', 9, 30],
      'unknown target `prd`',
    );
  });

  it('sibling files may only add resources', async () => {
    await expectOne(
      { 'flock.yaml': HEAD, 'extra.yaml': 'resources: {}\ntargets: []\n' },
      ['extra.yaml', 2, 1],
      'unknown key `targets` in extra.yaml: only `resources:` may be given outside flock.yaml',
    );
  });

  it('resource keys colliding across files name both places', async () => {
    const p = await expectOne(
      {
        'flock.yaml': `${HEAD}resources:\n  net: { type: sim.bucket, properties: { name: a } }\n`,
        'extra.yaml':
          'resources:\n  other: { type: sim.bucket, properties: { name: b } }\n  net: { type: sim.bucket, properties: { name: c } }\n',
      },
      ['flock.yaml', 6, 3],
      'resource `net` is declared twice',
    );
    expect(p.message).toMatch(/at .*extra\.yaml:3:3 and at .*flock\.yaml:6:3/);
  });

  it('collects every problem in one pass, sorted by place', async () => {
    const { err, problems } = await problemsOf({
      'flock.yaml': `flock: Bad
targets:
  - name: beta
    region: 1
resources:
  b: { type: sim.bukket, properties: { name: "\${nope.id}" } }
`,
      'z.yaml': 'resources:\n  c: { type: sim.bucket, depends_on: [zz], properties: { name: c } }\n',
    });
    expect(problems.map((p) => `${path.basename(p.location!.file)}:${p.location!.line}`)).toEqual([
      'flock.yaml:1',
      'flock.yaml:4',
      'flock.yaml:6',
      'flock.yaml:6',
      'z.yaml:2',
    ]);
    expect(err.message).toMatch(/^5 problems in the flock config in /);
    expect(err.exitCode).toBe(2);
  });
});
