/**
 * @module config — flock.yaml → typed, located model (SPEC.md §2): loading with collected, located
 * problems; `${...}` interpolation; target selectors and order; the published JSON Schema.
 */
export { configDigest, FLOCK_FILE, loadFlock, referencesOf } from './load.ts';
export type { LoadOptions } from './load.ts';
export { resolveExpr, resolveProperties, resolveProviderConfig, resolveReference } from './interpolate.ts';
export type { Resolved, ResolveScope } from './interpolate.ts';
export { selectsTarget, targetOrder } from './targets.ts';
export { flockJsonSchema, renderFlockJsonSchema } from './schema.ts';
export { NAME_PATTERN, RESOURCE_NAME_PATTERN } from './format.ts';
export type * from './model.ts';
