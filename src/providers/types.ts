/**
 * @module providers/types — the provider contract (SPEC.md §3 "Providers").
 *
 * A provider owns resource types named `PROVIDER.TYPE`. Each type is a small object: a zod schema of its
 * properties, which properties force replacement, and read / create / update / delete / lookup.
 * Providers make HTTP calls only through `ctx.http`, so under a worker every call goes through the signing
 * proxy; they never read credentials themselves.
 */
import type { z } from 'zod';

/** Attributes of a real resource: its properties plus what the provider adds (`id` always). */
export type Attributes = Readonly<Record<string, unknown>> & { readonly id: string };

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** Absolute URL. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON value (serialised by the client) or a raw string. */
  readonly body?: unknown;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON when the response is JSON, else the text. */
  readonly body: unknown;
}

/**
 * The only way a provider reaches the network. Local mode: signs with SigV4 from the environment.
 * Under a worker: sends through the signing proxy, which signs and adds `Drover-Fence`.
 * Implementations never throw for HTTP error statuses; they throw only when no response was had
 * (connection refused, reset, timeout) — as a TransientError.
 */
export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>;
}

export interface TargetInfo {
  readonly name: string;
  readonly realm: string;
  readonly tenancy: string;
  readonly region: string;
  readonly ad?: string;
}

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface ProviderContext {
  readonly http: HttpClient;
  /** Absolute path of the flock directory (local.* resolve relative paths against it). */
  readonly flockDir: string;
  readonly flock: string;
  readonly target: TargetInfo;
  readonly releaseId: string;
  readonly executionId: string;
  /** This provider's block of `providers:` in the flock config, interpolated (e.g. `{ endpoint }`). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Every provider block of the flock, interpolated, by provider name (drover.deployment reads `sim`). */
  readonly providerConfigs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /**
   * Asks a person (drover.approval). Resolves true only on an explicit yes; with no terminal and no
   * `--yes`, resolves false (fail closed).
   */
  readonly confirm: (question: string) => Promise<boolean>;
}

export interface CreateOptions {
  /** Fresh per create intent; passed to the service as a client token, so a retried create is one create. */
  readonly idempotencyKey: string;
}

/**
 * One resource type. Every method may throw TransientError (retried with backoff by the engine) or
 * ProviderError (permanent; fails that resource's operation).
 */
export interface ResourceType<P extends Record<string, unknown> = Record<string, unknown>> {
  /** `PROVIDER.TYPE`, e.g. `sim.network`. */
  readonly type: string;
  readonly description: string;
  /** Validated at `drover validate`; unknown properties are errors (use a strict object). */
  readonly schema: z.ZodType<P>;
  /** Properties whose change forces delete-then-create (`replace`). */
  readonly replaceOn: readonly string[];
  /** `task` for drover.* deployment tasks (release/execution id rules), else `infrastructure`. */
  readonly kind: 'infrastructure' | 'task';
  /**
   * Reads the real resource; null when it no longer exists. `prior` is what state recorded for it, when
   * known: deployment tasks (which exist only in state) answer with it.
   */
  read(ctx: ProviderContext, id: string, props: P, prior?: Attributes): Promise<Attributes | null>;
  /** Creates it. If create throws, nothing was created — or the lookup by idempotency key finds it. */
  create(ctx: ProviderContext, props: P, opts: CreateOptions): Promise<Attributes>;
  /** In-place update; when absent, every change is a replace. */
  update?(ctx: ProviderContext, id: string, props: P, prior: Attributes): Promise<Attributes>;
  /** Deletes it; deleting what is already gone succeeds. */
  delete(ctx: ProviderContext, id: string, prior: Attributes): Promise<void>;
  /**
   * Finds what a create with this idempotency key (or, failing that, this natural key such as a unique
   * name) made, for adoption after a crash. Null if nothing was created.
   */
  lookup(ctx: ProviderContext, opts: { idempotencyKey: string; props: P }): Promise<Attributes | null>;
}

/** Thrown for errors worth retrying: 5xx, 429, resets, timeouts. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'TransientError';
  }
}

/** Thrown for permanent failures: 4xx, validation refused by the service, a failed test. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Looks types up by name; the config validator and the engine take one of these. */
export interface TypeCatalog {
  get(type: string): ResourceType | undefined;
  types(): readonly ResourceType[];
}
