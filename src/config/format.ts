/**
 * @module config/format — the shape of flock files (SPEC.md §2) as zod schemas. The loader validates
 * each section with these (mapping every issue to a file:line:column), and the JSON Schema published
 * for editors (docs/flock.schema.json) is generated from the very same objects.
 */
import { z } from 'zod';

/** Flock and target names. */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
/** Resource (and artifact) names: usable in `${NAME.ATTRIBUTE}`. */
export const RESOURCE_NAME_PATTERN = /^[a-z_][a-z0-9_-]*$/;
/** Provider names: the `PROVIDER` of `PROVIDER.TYPE`. */
export const PROVIDER_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

/**
 * Words that start a non-resource reference (`${target.name}`, `${env.X}` …); a resource may not be
 * called by one of them, or `${target.id}` would be ambiguous. `__proto__` would corrupt plain objects.
 */
export const RESERVED_RESOURCE_NAMES: readonly string[] = [
  'target',
  'release',
  'execution',
  'artifacts',
  'env',
  '__proto__',
];

const name = z.string().regex(NAME_PATTERN, {
  error: 'expected a name matching [a-z][a-z0-9-]{0,62} (lowercase letters, digits, dashes)',
});
const nonEmpty = z.string().min(1, { error: 'expected a non-empty string' });
const approval = z.enum(['auto', 'manual']);
const nameList = z.array(z.string());

export const artifactSchema = z
  .strictObject({
    kind: z
      .string()
      .default('file')
      .describe('What the version names: a file path or digest, an image tag …'),
  })
  .describe('A versioned, read-only input; each release pins one version of it.');

export const targetSchema = z
  .strictObject({
    name: name.describe('Unique in the flock.'),
    realm: nonEmpty.default('default'),
    tenancy: nonEmpty.default('default'),
    region: nonEmpty,
    ad: nonEmpty.optional().describe('Availability domain, when the target is one.'),
    approval: approval.default('manual').describe('`auto` approves this target’s plans without a person.'),
    after: nameList.default([]).describe('Targets that must succeed before this one starts.'),
  })
  .describe('An execution target: one copy of the service in a (realm, tenancy, region[, ad]).');

export const selectorSchema = z
  .strictObject({
    names: nameList.optional().describe('Target names.'),
    realm: nameList.optional(),
    tenancy: nameList.optional(),
    region: nameList.optional(),
  })
  .describe('Only in targets matching every key given (each key: any of the listed values).');

/** A resource entry; `properties` are checked separately against the type's own schema. */
export const resourceSchema = z.strictObject({
  type: z.string().describe('PROVIDER.TYPE, e.g. sim.network.'),
  properties: z.record(z.string(), z.unknown()).default({}),
  depends_on: nameList
    .default([])
    .describe('More resources this one comes after (references add their own).'),
  force_on_release: z.boolean().default(false).describe('Run on every new release, even with no difference.'),
  targets: selectorSchema.optional(),
});

export const providerSchema = z
  .record(z.string(), z.unknown())
  .describe('Settings handed to the provider; `${env.NAME}` is allowed here only.');

/** Every top-level key of flock.yaml, validated one at a time so one bad section hides nothing else. */
export const flockShape = {
  flock: name.describe('The flock’s name.'),
  description: z.string().optional(),
  rollback: approval.default('manual').describe('`auto` runs the rollback plan of a failed target at once.'),
  artifacts: z.record(z.string(), artifactSchema).default({}),
  targets: z.array(targetSchema).default([]),
  providers: z.record(z.string(), providerSchema).default({}),
  resources: z.record(z.string(), resourceSchema).default({}),
} as const;

/** Sibling `*.yaml` files may only add resources. */
export const siblingShape = {
  resources: flockShape.resources,
} as const;

export const flockFileSchema = z.strictObject(flockShape);
