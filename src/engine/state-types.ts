/**
 * @module engine/state-types — the state of one (flock, target), and the backend the engine records it in.
 *
 * State is versioned: a lineage (UUID, fixed when the state is first created) and a serial that grows by
 * one with every recorded change; every change is kept in history. Each resource operation is recorded
 * in its own transaction, so a crash at any instant loses at most the operation in flight — and that one
 * is covered by its intent (see Intent).
 */
import type { Attributes } from '../providers/types.ts';

/** Status of the last run of a drover.* deployment task. */
export type TaskStatus = 'SUCCEEDED' | 'FAILED';

export interface ResourceState {
  readonly address: string;
  readonly type: string;
  readonly id: string;
  /** The resolved properties the resource was last created/updated with. */
  readonly properties: Readonly<Record<string, unknown>>;
  /** What the provider last reported (properties + provider-added, `id` always). */
  readonly attributes: Attributes;
  /** Addresses this resource depended on when applied (deletes run in reverse of these). */
  readonly dependencies: readonly string[];
  /** drover.* tasks (and force_on_release resources): the run that last executed them. */
  readonly releaseId?: string;
  readonly executionId?: string;
  readonly status?: TaskStatus;
}

/**
 * Recorded before a create (with a fresh idempotency key) and cleared after the created resource is
 * recorded. A pending intent found at refresh means a crash happened mid-create: refresh asks the
 * provider to look the key up, and adopts what it finds or clears the intent.
 */
export interface Intent {
  readonly address: string;
  readonly type: string;
  readonly idempotencyKey: string;
  readonly properties: Readonly<Record<string, unknown>>;
  readonly dependencies: readonly string[];
  readonly createdAt: string;
}

export interface StateSnapshot {
  readonly flock: string;
  readonly target: string;
  readonly lineage: string;
  /** 0 for a state never written. */
  readonly serial: number;
  readonly resources: ReadonlyMap<string, ResourceState>;
  readonly intents: ReadonlyMap<string, Intent>;
}

export type StateChange =
  | { readonly kind: 'put'; readonly resource: ResourceState; readonly action: string }
  | { readonly kind: 'remove'; readonly address: string; readonly action: string };

/**
 * Where the engine records state: the database directly (local mode, server) or the server's API
 * through the signing proxy (a task on a worker, fenced by its lease token).
 */
/** What `StateBackend.load` may tell its caller while the snapshot is still being read. */
export interface LoadOptions {
  /**
   * Resources of the snapshot as they arrive, in address order, each once, before `load` resolves (the
   * snapshot still holds them all). `head` is what the snapshot holds in all. A refresh starts reading
   * resources from their provider while the rest of a large state is still on its way. A backend that
   * cannot stream its snapshot never calls it.
   */
  readonly onResources?: (
    batch: readonly ResourceState[],
    head: { readonly total: number; readonly intents: number },
  ) => void;
  /**
   * A hint for a streamed load: only resources of these types need their stored attributes; the others
   * may carry `{ id }` alone. A plan (never an apply) asks this with its deployment task types: every
   * other resource's attributes come from its provider's answer in the refresh, and the stored ones of
   * a 10,000-resource state are half of what the database renders and the engine parses and holds.
   */
  readonly attributesOnlyFor?: readonly string[];
}

export interface StateBackend {
  /** One consistent snapshot: serial, resources and intents as one read saw them. */
  load(flock: string, target: string, opts?: LoadOptions): Promise<StateSnapshot>;
  /** Records an intent; a transaction of its own. */
  putIntent(flock: string, target: string, intent: Intent): Promise<void>;
  /**
   * Applies one change atomically: the resource row, a history entry, serial + 1, and (optionally)
   * clearing the intent of that address. Returns the new serial.
   */
  commit(
    flock: string,
    target: string,
    change: StateChange,
    opts?: { clearIntent?: boolean },
  ): Promise<number>;
  clearIntent(flock: string, target: string, address: string): Promise<void>;
  /**
   * A hint, optional: writes follow soon (an apply has loaded its state and is planning). A backend
   * may get its write path ready meanwhile; nothing is written, and the call returns at once.
   */
  prepareWrites?(): void;
}
