import { describe, expect, it } from 'vitest';
import { DroverError } from '../errors.ts';
import { createCatalog, defaultCatalog } from './index.ts';
import { localFile } from './local/index.ts';

const EXPECTED = [
  'local.file',
  'local.directory',
  'postgres.database',
  'postgres.role',
  'postgres.schema',
  'postgres.grant',
  'sim.network',
  'sim.instance',
  'sim.bucket',
  'sim.dns_record',
  'sim.load_balancer',
  'sim.user',
  'http.resource',
  'drover.deployment',
  'drover.wait',
  'drover.test',
  'drover.alarm_watch',
  'drover.approval',
];

describe('defaultCatalog', () => {
  const catalog = defaultCatalog();

  it('holds every built-in type of SPEC §3', () => {
    expect(catalog.types().map((t) => t.type)).toEqual(EXPECTED);
    for (const name of EXPECTED) expect(catalog.get(name)?.type).toBe(name);
    expect(catalog.get('sim.nope')).toBeUndefined();
  });

  it('every type refuses unknown properties, and names only real replaceOn properties', () => {
    for (const t of catalog.types()) {
      const r = t.schema.safeParse({ definitely_not_a_property: 1 });
      expect(r.success, t.type).toBe(false);
      if (!r.success)
        expect(
          r.error.issues.some((i) => i.code === 'unrecognized_keys'),
          t.type,
        ).toBe(true);
      expect(t.kind, t.type).toBe(t.type.startsWith('drover.') ? 'task' : 'infrastructure');
      const shape = (t.schema as unknown as { shape: Record<string, unknown> }).shape;
      for (const k of t.replaceOn) expect(Object.keys(shape), `${t.type} replaceOn ${k}`).toContain(k);
    }
  });

  it('accepts the SPEC §2 example resources', () => {
    const ok = (type: string, props: unknown) =>
      expect(catalog.get(type)!.schema.safeParse(props).success, type).toBe(true);
    ok('sim.network', { cidr: '10.0.0.0/16', name: 'hello-beta' });
    ok('sim.bucket', { name: 'hello-logs-beta' });
    ok('sim.instance', { network: 'net-1', shape: 'small' });
    ok('drover.deployment', { instance: 'i-1', artifact: 'sha256:abc' });
    ok('drover.alarm_watch', { url: 'http://127.0.0.1:7900/health/i-1', duration: '30s' });
  });
});

describe('createCatalog', () => {
  it('refuses a type registered twice', () => {
    expect(() => createCatalog([localFile, localFile])).toThrow(DroverError);
  });
});
