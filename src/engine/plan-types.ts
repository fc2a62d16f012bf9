/**
 * @module engine/plan-types — plans as data (SPEC.md §3). The JSON form is stable: fields are only added.
 */

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'no-op';

/** Placeholder in `changes[].after` for a value only known once a dependency is applied. */
export const UNKNOWN = '(known after apply)' as const;

export interface Change {
  /** Property name (dotted for nested). */
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
  /** This change forces replacement. */
  readonly forcesReplace?: boolean;
}

export interface PlanOperation {
  readonly address: string;
  readonly type: string;
  readonly action: Action;
  readonly changes: readonly Change[];
  /** Why (e.g. `new release`, `retry of failed execution`, `gone from the provider`, `force_on_release`). */
  readonly reason?: string;
  readonly depends_on: readonly string[];
}

export interface Plan {
  readonly format_version: 1;
  readonly flock: string;
  readonly target: string;
  readonly release_id: string;
  readonly execution_id: string;
  readonly destroy: boolean;
  readonly created_at: string;
  /** The state this plan was made against; `apply --plan` refuses it if state moved on (stale plan). */
  readonly state: { readonly lineage: string; readonly serial: number };
  readonly config_digest: string;
  readonly artifacts: Readonly<Record<string, string>>;
  readonly operations: readonly PlanOperation[];
  readonly summary: Readonly<Record<Action, number>>;
}

export interface ApplyResult {
  readonly plan: Plan;
  readonly ok: boolean;
  readonly serial: number;
  readonly results: readonly {
    address: string;
    action: Action;
    ok: boolean;
    error?: string;
    attempts: number;
  }[];
}

/** Progress events for CLIs and logs. */
export type EngineEvent =
  | { readonly kind: 'refresh'; readonly done: number; readonly total: number }
  | { readonly kind: 'op-start'; readonly address: string; readonly action: Action }
  | {
      readonly kind: 'op-done';
      readonly address: string;
      readonly action: Action;
      readonly ok: boolean;
      readonly error?: string;
    }
  | {
      readonly kind: 'retry';
      readonly address: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: string;
    }
  | { readonly kind: 'adopted'; readonly address: string; readonly id: string }
  | { readonly kind: 'intent-cleared'; readonly address: string };
