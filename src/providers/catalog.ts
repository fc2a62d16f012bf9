/**
 * @module providers/catalog — a TypeCatalog over a list of resource types.
 */
import { DroverError } from '../errors.ts';
import type { ResourceType, TypeCatalog } from './types.ts';

const TYPE_NAME = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;

/** Builds a catalog; a malformed or duplicate type name is a programming error (INTERNAL). */
export function createCatalog(types: readonly ResourceType[]): TypeCatalog {
  const byName = new Map<string, ResourceType>();
  for (const t of types) {
    if (!TYPE_NAME.test(t.type))
      throw new DroverError('INTERNAL', `resource type name "${t.type}" is not PROVIDER.TYPE`);
    if (byName.has(t.type))
      throw new DroverError('INTERNAL', `resource type "${t.type}" is registered twice`);
    byName.set(t.type, t);
  }
  const list = Object.freeze([...byName.values()]);
  return {
    get: (type) => byName.get(type),
    types: () => list,
  };
}
