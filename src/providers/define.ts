/**
 * @module providers/define — typed construction of resource types, erased to the catalog's shape.
 *
 * Each type is written against its own inferred property type `P`; the catalog holds them as
 * `ResourceType` (properties as a plain record). The engine validates properties with `schema` before
 * calling any method, so the erasure is sound.
 */
import type { ResourceType } from './types.ts';

export function defineType<P extends Record<string, unknown>>(t: ResourceType<P>): ResourceType {
  return t as unknown as ResourceType;
}

/** Structural equality of JSON-like values (property comparison for adoption and drift). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (
    a !== null &&
    b !== null &&
    typeof a === 'object' &&
    typeof b === 'object' &&
    !Array.isArray(a) &&
    !Array.isArray(b)
  ) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    return (
      ka.length === kb.length &&
      ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return false;
}

/** True when every defined property has the same value in `found` (what a service reports). */
export function propertiesMatch(
  found: Readonly<Record<string, unknown>>,
  props: Readonly<Record<string, unknown>>,
): boolean {
  return Object.entries(props).every(([k, v]) => v === undefined || sameValue(found[k], v));
}
