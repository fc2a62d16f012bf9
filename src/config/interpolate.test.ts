import { afterEach, describe, expect, it } from 'vitest';
import { DroverError } from '../errors.ts';
import {
  loadFlock,
  resolveExpr,
  resolveProperties,
  resolveProviderConfig,
  selectsTarget,
  targetOrder,
} from './index.ts';
import type { FlockConfig, ResolveScope } from './index.ts';
import { tempFlocks, testCatalog } from './testing.ts';

const flocks = tempFlocks();
afterEach(() => flocks.cleanup());

const FLOCK = `flock: hello
artifacts:
  app: {}
targets:
  - { name: beta, realm: r1, tenancy: beta, region: sim-1 }
  - { name: prod-a, tenancy: prod, region: sim-east, ad: ad-1, after: [beta] }
  - { name: prod-b, tenancy: prod, region: sim-west, after: [beta] }
  - { name: last, region: sim-west, after: [prod-b, prod-a] }
providers:
  sim: { endpoint: "\${env.SIM_URL}", label: "\${target.name}-\${release.id}", n: 3 }
resources:
  net:
    type: sim.network
    properties: { cidr: 10.0.0.0/16, name: "hello-\${target.name}" }
  vm:
    type: sim.instance
    properties: { name: "vm", network: "\${net.id}", shape: small, count: "\${net.size}" }
  f:
    type: local.file
    properties:
      path: "/srv/\${target.region}/\${execution.id}"
      content: "v=\${artifacts.app.version} n=\${net.size} id=\${vm.id} tags=\${net.tags} none=\${net.nothing}"
    targets: { tenancy: [prod], region: [sim-east, sim-west] }
  g:
    type: local.file
    properties: { path: "\${net.tags.env}", content: "\${target.ad}" }
    targets: { names: [] }
`;

async function load(): Promise<FlockConfig> {
  return loadFlock(await flocks.make({ 'flock.yaml': FLOCK }), testCatalog());
}

function scope(
  config: FlockConfig,
  target: string,
  attrs: Record<string, Record<string, unknown>>,
): ResolveScope {
  const t = config.targets.find((x) => x.name === target)!;
  return {
    target: {
      name: t.name,
      realm: t.realm,
      tenancy: t.tenancy,
      region: t.region,
      ...(t.ad ? { ad: t.ad } : {}),
    },
    releaseId: 'rel-1',
    executionId: 'exec-1',
    artifacts: { app: 'v7' },
    env: { SIM_URL: 'http://sim' },
    resource: (name) => attrs[name],
  };
}

describe('resolveExpr / resolveProperties', () => {
  it('resolves templates to strings and keeps a whole reference’s type', async () => {
    const c = await load();
    const s = scope(c, 'prod-a', {
      net: { id: 'n-1', size: 42, tags: { env: 'prod' }, nothing: null },
      vm: { id: 'i-9' },
    });
    expect(resolveProperties(c.resources.net!, s)).toEqual({
      values: { cidr: '10.0.0.0/16', name: 'hello-prod-a' },
      unknownKeys: [],
    });
    expect(resolveProperties(c.resources.vm!, s)).toEqual({
      values: { name: 'vm', network: 'n-1', shape: 'small', count: 42 },
      unknownKeys: [],
    });
    expect(resolveProperties(c.resources.f!, s).values).toEqual({
      path: '/srv/sim-east/exec-1',
      content: 'v=v7 n=42 id=i-9 tags={"env":"prod"} none=',
    });
    // nested attribute paths and target.ad
    expect(resolveProperties(c.resources.g!, s).values).toEqual({ path: 'prod', content: 'ad-1' });
  });

  it('marks values waiting on resources not applied yet as unknown', async () => {
    const c = await load();
    const s = scope(c, 'beta', { net: { id: 'n-1', size: 1, tags: {}, nothing: 0 } });
    const vm = resolveProperties(c.resources.vm!, scope(c, 'beta', {}));
    expect(vm.unknownKeys).toEqual(['count', 'network']);
    expect(vm.values.shape).toBe('small');
    const f = resolveProperties(c.resources.f!, s);
    expect(f.unknownKeys).toEqual(['content']);
    expect(f.values.content).toBe('v=v7 n=1 id=${vm.id} tags={} none=0');
  });

  it('a missing attribute of a known resource is a CONFIG_INVALID error naming the reference and its place', async () => {
    const c = await load();
    const s = scope(c, 'beta', { net: { id: 'n-1', tags: {} } });
    let err: unknown;
    try {
      resolveProperties(c.resources.vm!, s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DroverError);
    const d = err as DroverError;
    expect(d.code).toBe('CONFIG_INVALID');
    expect(d.message).toContain('${net.size}');
    expect(d.message).toContain('resource `net` has no attribute `net.size` (it has: id, tags)');
    expect(d.message).toMatch(/flock\.yaml:17:\d+/);
    expect(d.problems[0]!.location).toMatchObject({ line: 17 });
  });

  it('target.ad on a target without one is an error', async () => {
    const c = await load();
    expect(() =>
      resolveProperties(c.resources.g!, scope(c, 'beta', { net: { tags: { env: 'x' } } })),
    ).toThrow(/target `beta` has no `ad`/);
  });

  it('an artifact without a version is ARTIFACT_VERSION_MISSING', async () => {
    const c = await load();
    const s = {
      ...scope(c, 'prod-a', { net: { id: 'n', size: 1, tags: {}, nothing: 1 }, vm: { id: 'i' } }),
      artifacts: {},
    };
    expect(() => resolveProperties(c.resources.f!, s)).toThrow(
      expect.objectContaining({ code: 'ARTIFACT_VERSION_MISSING' }),
    );
  });

  it('literal, list and object expressions', () => {
    const s = {
      target: { name: 't', realm: 'r', tenancy: 'y', region: 'g' },
      releaseId: 'R',
      executionId: 'E',
      artifacts: {},
      resource: () => undefined,
    } satisfies ResolveScope;
    const loc = { file: 'f', line: 1, column: 1 };
    expect(
      resolveExpr(
        {
          kind: 'object',
          entries: {
            a: { kind: 'literal', value: [1, 2] },
            b: {
              kind: 'list',
              items: [
                { kind: 'ref', ref: { scope: 'release', field: 'id', text: '${release.id}', location: loc } },
              ],
            },
            c: {
              kind: 'ref',
              ref: { scope: 'resource', name: 'x', path: ['id'], text: '${x.id}', location: loc },
            },
          },
        },
        s,
      ),
    ).toEqual({ value: { a: [1, 2], b: ['R'], c: undefined }, unknown: true });
  });
});

describe('resolveProviderConfig', () => {
  it('resolves env, target and release references', async () => {
    const c = await load();
    expect(resolveProviderConfig(c, 'sim', scope(c, 'beta', {}))).toEqual({
      endpoint: 'http://sim',
      label: 'beta-rel-1',
      n: 3,
    });
    expect(resolveProviderConfig(c, 'local', scope(c, 'beta', {}))).toEqual({});
  });

  it('an unset environment variable is an error naming it', async () => {
    const c = await load();
    expect(() => resolveProviderConfig(c, 'sim', { ...scope(c, 'beta', {}), env: {} })).toThrow(
      /environment variable `SIM_URL` is not set/,
    );
  });
});

describe('selectsTarget / targetOrder', () => {
  it('applies selectors key by key', async () => {
    const c = await load();
    const info = (name: string) => scope(c, name, {}).target;
    expect(selectsTarget(c.resources.net!, info('beta'))).toBe(true);
    expect(selectsTarget(c.resources.f!, info('beta'))).toBe(false);
    expect(selectsTarget(c.resources.f!, info('prod-a'))).toBe(true);
    expect(selectsTarget(c.resources.f!, info('prod-b'))).toBe(true);
    expect(selectsTarget(c.resources.f!, info('last'))).toBe(false); // tenancy default
    expect(selectsTarget(c.resources.g!, info('prod-a'))).toBe(false); // names: [] matches nothing
    expect(selectsTarget({ targets: { realm: ['r1'] } }, info('beta'))).toBe(true);
    expect(selectsTarget({ targets: { realm: ['r1'] } }, info('prod-a'))).toBe(false);
  });

  it('orders targets along `after`, ties alphabetical', async () => {
    const c = await load();
    expect(targetOrder(c).map((t) => t.name)).toEqual(['beta', 'prod-a', 'prod-b', 'last']);
  });
});
