import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { builtinSchemaText, SCHEMA_FILE } from '../../scripts/gen-schema.ts';
import { flockJsonSchema, renderFlockJsonSchema } from './index.ts';
import { testCatalog } from './testing.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('flockJsonSchema', () => {
  const schema = flockJsonSchema(testCatalog()) as Json;

  it('is a draft 2020-12 schema choosing flock.yaml or a sibling file by `flock:`', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.if).toEqual({ required: ['flock'] });
    expect(schema.then).toEqual({ $ref: '#/$defs/flock' });
    expect(schema.else).toEqual({ $ref: '#/$defs/sibling' });
    expect(Object.keys(schema.$defs.sibling.properties)).toEqual(['resources']);
    expect(schema.$defs.sibling.additionalProperties).toBe(false);
  });

  it('describes the format from the loader’s own schemas', () => {
    const flock = schema.$defs.flock;
    expect(flock.required).toEqual(['flock']);
    expect(flock.additionalProperties).toBe(false);
    expect(Object.keys(flock.properties).sort()).toEqual([
      'artifacts',
      'description',
      'flock',
      'providers',
      'resources',
      'rollback',
      'targets',
    ]);
    expect(flock.properties.flock.pattern).toBe('^[a-z][a-z0-9-]{0,62}$');
    const target = flock.properties.targets.items;
    expect(target.required).toEqual(['name', 'region']);
    expect(target.properties.approval).toMatchObject({ enum: ['auto', 'manual'], default: 'manual' });
    expect(target.properties.realm.default).toBe('default');
    expect(flock.properties.providers.propertyNames).toEqual({ enum: ['drover', 'local', 'sim'] });
  });

  it('checks each resource’s properties by its type, allowing ${...} for any property', () => {
    const resource = schema.$defs.resource;
    expect(resource.required).toEqual(['type']);
    expect(resource.properties.type.enum).toEqual([
      'drover.deployment',
      'local.file',
      'sim.bucket',
      'sim.instance',
      'sim.network',
    ]);
    expect(Object.keys(resource.properties).sort()).toEqual([
      'depends_on',
      'force_on_release',
      'properties',
      'targets',
      'type',
    ]);
    expect(resource.properties.targets.additionalProperties).toBe(false);
    const instance = resource.allOf.find((c: Json) => c.if.properties.type.const === 'sim.instance');
    const props = instance.then.properties.properties;
    expect(props.additionalProperties).toBe(false);
    expect(props.required).toEqual(['name', 'network', 'shape']);
    expect(props.properties.shape).toEqual({
      anyOf: [{ type: 'string', enum: ['small', 'large'] }, { $ref: '#/$defs/interpolation' }],
    });
    expect(schema.$defs.interpolation.pattern).toBe('\\$\\{[^}]*\\}');
  });

  it('renders deterministically', () => {
    expect(renderFlockJsonSchema(testCatalog())).toBe(renderFlockJsonSchema(testCatalog()));
  });
});

describe('docs/flock.schema.json', () => {
  it('is up to date with the built-in catalog (regenerate: npx tsx scripts/gen-schema.ts)', async () => {
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    expect(
      committed === (await builtinSchemaText()),
      'docs/flock.schema.json is stale: run npx tsx scripts/gen-schema.ts',
    ).toBe(true);
  });
});
