/**
 * @module config/interpolate — resolves `${...}` expressions against one target, release and execution,
 * and the attributes of resources known so far. A value that waits on a resource not yet applied is
 * reported as unknown (the plan shows it as "known after apply"), never guessed.
 */
import { DroverError } from '../errors.ts';
import type { SourceLocation } from '../errors.ts';
import type { TargetInfo } from '../providers/types.ts';
import { putOwn } from './own.ts';
import type { Expr, FlockConfig, Reference, ResourceConfig } from './model.ts';

export interface ResolveScope {
  readonly target: TargetInfo;
  readonly releaseId: string;
  readonly executionId: string;
  /** Artifact versions by name. */
  readonly artifacts: Readonly<Record<string, string>>;
  /** For `${env.NAME}` (provider settings); default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A resource's attributes; undefined while they are not yet known (not applied yet). */
  resource(name: string): Readonly<Record<string, unknown>> | undefined;
}

export interface Resolved {
  readonly value: unknown;
  /** True when some referenced resource attribute is not known yet; `value` may then be partial. */
  readonly unknown: boolean;
}

function at(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

function refError(ref: Reference, why: string): DroverError {
  return new DroverError('CONFIG_INVALID', `${at(ref.location)}: ${ref.text}: ${why}`, {
    problems: [{ message: `${ref.text}: ${why}`, location: ref.location }],
  });
}

/** One reference. `unknown` when it waits on a resource not applied yet. */
export function resolveReference(ref: Reference, scope: ResolveScope): Resolved {
  switch (ref.scope) {
    case 'target': {
      const v = scope.target[ref.field];
      if (v === undefined) throw refError(ref, `target \`${scope.target.name}\` has no \`${ref.field}\``);
      return { value: v, unknown: false };
    }
    case 'release':
      return { value: scope.releaseId, unknown: false };
    case 'execution':
      return { value: scope.executionId, unknown: false };
    case 'artifact': {
      const v = Object.prototype.hasOwnProperty.call(scope.artifacts, ref.name)
        ? scope.artifacts[ref.name]
        : undefined;
      if (v === undefined) {
        throw new DroverError(
          'ARTIFACT_VERSION_MISSING',
          `${at(ref.location)}: ${ref.text}: no version given for artifact \`${ref.name}\` (use --artifact ${ref.name}=VERSION)`,
          {
            details: { artifact: ref.name },
          },
        );
      }
      return { value: v, unknown: false };
    }
    case 'env': {
      const env = scope.env ?? process.env;
      const v = Object.prototype.hasOwnProperty.call(env, ref.name) ? env[ref.name] : undefined;
      if (v === undefined) throw refError(ref, `environment variable \`${ref.name}\` is not set`);
      return { value: v, unknown: false };
    }
    case 'resource': {
      const attrs = scope.resource(ref.name);
      if (attrs === undefined) return { value: undefined, unknown: true };
      let v: unknown = attrs;
      for (let i = 0; i < ref.path.length; i++) {
        const seg = ref.path[i]!;
        const holder = v;
        if (
          holder === null ||
          typeof holder !== 'object' ||
          !Object.prototype.hasOwnProperty.call(holder, seg)
        ) {
          const shown = [ref.name, ...ref.path.slice(0, i + 1)].join('.');
          const have =
            holder !== null && typeof holder === 'object' && !Array.isArray(holder)
              ? Object.keys(holder).sort()
              : [];
          throw refError(
            ref,
            `resource \`${ref.name}\` has no attribute \`${shown}\`${have.length ? ` (it has: ${have.join(', ')})` : ''}`,
          );
        }
        v = (holder as Record<string, unknown>)[seg];
      }
      return { value: v, unknown: false };
    }
    default: {
      const never: never = ref;
      return never;
    }
  }
}

/** A value placed in a template: strings as they are, other scalars as written, the rest as JSON. */
function stringify(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/**
 * Resolves an expression. A `ref` keeps the referenced value's type; a `template` is a string. Unknown
 * parts of a template stay as their `${...}` text (for display only: check `unknown`).
 * Throws CONFIG_INVALID for a missing attribute of a known resource or an unset env variable, and
 * ARTIFACT_VERSION_MISSING for an artifact without a version.
 */
export function resolveExpr(expr: Expr, scope: ResolveScope): Resolved {
  switch (expr.kind) {
    case 'literal':
      return { value: expr.value, unknown: false };
    case 'ref':
      return resolveReference(expr.ref, scope);
    case 'template': {
      let out = '';
      let unknown = false;
      for (const part of expr.parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const r = resolveReference(part, scope);
        if (r.unknown) {
          unknown = true;
          out += part.text;
        } else out += stringify(r.value);
      }
      return { value: out, unknown };
    }
    case 'list': {
      const items = expr.items.map((i) => resolveExpr(i, scope));
      return { value: items.map((i) => i.value), unknown: items.some((i) => i.unknown) };
    }
    case 'object': {
      const value: Record<string, unknown> = {};
      let unknown = false;
      for (const [k, e] of Object.entries(expr.entries)) {
        const r = resolveExpr(e, scope);
        putOwn(value, k, r.value);
        unknown ||= r.unknown;
      }
      return { value, unknown };
    }
    default: {
      const never: never = expr;
      return never;
    }
  }
}

/** All of a resource's properties; `unknownKeys` (sorted) name those waiting on resources not applied. */
export function resolveProperties(
  resource: ResourceConfig,
  scope: ResolveScope,
): { values: Record<string, unknown>; unknownKeys: string[] } {
  const values: Record<string, unknown> = {};
  const unknownKeys: string[] = [];
  for (const [key, expr] of Object.entries(resource.properties)) {
    const r = resolveExpr(expr, scope);
    putOwn(values, key, r.value);
    if (r.unknown) unknownKeys.push(key);
  }
  return { values, unknownKeys: unknownKeys.sort() };
}

/**
 * One provider's settings (`providers.NAME`), with `${env.NAME}` resolved; `{}` when the flock has no
 * block for it. Provider settings cannot refer to resources, so nothing here is ever unknown.
 */
export function resolveProviderConfig(
  config: FlockConfig,
  name: string,
  scope: ResolveScope,
): Record<string, unknown> {
  const provider = Object.prototype.hasOwnProperty.call(config.providers, name)
    ? config.providers[name]
    : undefined;
  if (!provider) return {};
  const out: Record<string, unknown> = {};
  for (const [key, expr] of Object.entries(provider.settings))
    putOwn(out, key, resolveExpr(expr, scope).value);
  return out;
}
