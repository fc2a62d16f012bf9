/**
 * @module config/model — the typed, located model of a flock config (SPEC.md §2), as the parser yields it.
 */
import type { SourceLocation } from '../errors.ts';

export type Approval = 'auto' | 'manual';

export interface TargetSelector {
  readonly names?: readonly string[];
  readonly realm?: readonly string[];
  readonly tenancy?: readonly string[];
  readonly region?: readonly string[];
}

export interface TargetConfig {
  readonly name: string;
  readonly realm: string; // default 'default'
  readonly tenancy: string; // default 'default'
  readonly region: string;
  readonly ad?: string;
  readonly approval: Approval; // default 'manual'
  readonly after: readonly string[];
  readonly location: SourceLocation;
}

export interface ArtifactConfig {
  readonly name: string;
  readonly kind: string;
  readonly location: SourceLocation;
}

/**
 * A property value as written, with `${...}` parsed. Strings that are exactly one `${...}` are `ref`
 * (keeping the referenced type); strings with text around are `template`.
 */
export type Expr =
  | { readonly kind: 'literal'; readonly value: unknown }
  | { readonly kind: 'ref'; readonly ref: Reference }
  | { readonly kind: 'template'; readonly parts: readonly (string | Reference)[] }
  | { readonly kind: 'list'; readonly items: readonly Expr[] }
  | { readonly kind: 'object'; readonly entries: Readonly<Record<string, Expr>> };

/**
 * `${target.name}` → { scope: 'target', path: ['name'] }; `${vm.id}` → { scope: 'resource', name: 'vm', path: ['id'] }.
 */
export type Reference =
  | {
      readonly scope: 'target';
      readonly field: 'name' | 'realm' | 'tenancy' | 'region' | 'ad';
      readonly text: string;
      readonly location: SourceLocation;
    }
  | {
      readonly scope: 'release';
      readonly field: 'id';
      readonly text: string;
      readonly location: SourceLocation;
    }
  | {
      readonly scope: 'execution';
      readonly field: 'id';
      readonly text: string;
      readonly location: SourceLocation;
    }
  | {
      readonly scope: 'artifact';
      readonly name: string;
      readonly text: string;
      readonly location: SourceLocation;
    }
  | { readonly scope: 'env'; readonly name: string; readonly text: string; readonly location: SourceLocation }
  | {
      readonly scope: 'resource';
      readonly name: string;
      /** Attribute path, e.g. ['id'] or ['health_url']. */
      readonly path: readonly string[];
      readonly text: string;
      readonly location: SourceLocation;
    };

export interface ResourceConfig {
  readonly name: string; // the address
  readonly type: string;
  readonly properties: Readonly<Record<string, Expr>>;
  readonly dependsOn: readonly string[]; // explicit depends_on + references, deduplicated
  readonly forceOnRelease: boolean;
  readonly targets?: TargetSelector;
  readonly location: SourceLocation;
}

export interface ProviderConfig {
  readonly name: string;
  readonly settings: Readonly<Record<string, Expr>>;
  readonly location: SourceLocation;
}

export interface FlockConfig {
  readonly flock: string;
  readonly description?: string;
  /** Absolute path of the flock directory. */
  readonly dir: string;
  /** sha256 of the config files' contents (sorted by name), used for local release ids. */
  readonly digest: string;
  readonly rollback: 'auto' | 'manual';
  readonly artifacts: readonly ArtifactConfig[];
  readonly targets: readonly TargetConfig[];
  readonly providers: Readonly<Record<string, ProviderConfig>>;
  readonly resources: Readonly<Record<string, ResourceConfig>>;
}
