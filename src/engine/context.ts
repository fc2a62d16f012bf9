/**
 * @module engine/context — what one run (plan or apply of one flock on one target) needs, built once.
 */
import { randomUUID } from 'node:crypto';
import type { FlockConfig, TargetConfig } from '../config/model.ts';
import { resolveProviderConfig, type ResolveScope } from '../config/index.ts';
import { DroverError } from '../errors.ts';
import type { Logger, ProviderContext, ResourceType, TargetInfo } from '../providers/types.ts';
import type { EngineOptions, RunInputs } from './index.ts';
import { localReleaseId } from './release-id.ts';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.ts';

const silent: Logger = { info() {}, warn() {}, error() {} };

export interface RunContext {
  readonly config: FlockConfig;
  readonly target: TargetConfig;
  readonly targetInfo: TargetInfo;
  readonly releaseId: string;
  readonly executionId: string;
  readonly artifacts: Readonly<Record<string, string>>;
  readonly destroy: boolean;
  readonly opts: EngineOptions;
  readonly parallelism: number;
  readonly retry: RetryPolicy;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly providerConfigs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  typeOf(typeName: string): ResourceType;
  providerContext(typeName: string): ProviderContext;
  /** Scope for interpolation, given what attributes are known so far. */
  scope(resource: (name: string) => Readonly<Record<string, unknown>> | undefined): ResolveScope;
}

export function createRunContext(config: FlockConfig, inputs: RunInputs, opts: EngineOptions): RunContext {
  const target = config.targets.find((t) => t.name === inputs.target);
  if (!target) {
    throw new DroverError(
      'TARGET_UNKNOWN',
      `no target "${inputs.target}" in flock "${config.flock}" (targets: ${config.targets.map((t) => t.name).join(', ') || 'none'})`,
      { details: { target: inputs.target } },
    );
  }
  const missing = config.artifacts.filter((a) => !inputs.artifacts[a.name]).map((a) => a.name);
  if (missing.length && !inputs.destroy) {
    throw new DroverError(
      'ARTIFACT_VERSION_MISSING',
      `no version given for artifact${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (pass --artifact NAME=VERSION)`,
      { details: { artifacts: missing } },
    );
  }
  const unknownArtifacts = Object.keys(inputs.artifacts).filter(
    (n) => !config.artifacts.some((a) => a.name === n),
  );
  if (unknownArtifacts.length) {
    throw new DroverError('USAGE', `the flock declares no artifact ${unknownArtifacts.join(', ')}`, {
      details: { artifacts: unknownArtifacts },
    });
  }
  const targetInfo: TargetInfo = {
    name: target.name,
    realm: target.realm,
    tenancy: target.tenancy,
    region: target.region,
    ...(target.ad !== undefined ? { ad: target.ad } : {}),
  };
  const releaseId = inputs.releaseId ?? localReleaseId(config, inputs.artifacts);
  const executionId = inputs.executionId ?? randomUUID();
  // Copied once: spreading process.env is costly, and scope() runs for every resource.
  const env: Readonly<Record<string, string | undefined>> = { ...(opts.env ?? process.env) };
  const artifacts = { ...inputs.artifacts };
  const log = opts.log ?? silent;
  const signal = opts.signal ?? new AbortController().signal;
  const scope = (
    resource: (name: string) => Readonly<Record<string, unknown>> | undefined,
  ): ResolveScope => ({
    target: targetInfo,
    releaseId,
    executionId,
    artifacts,
    env,
    resource,
  });
  const providerConfigs: Record<string, Readonly<Record<string, unknown>>> = {};
  for (const name of Object.keys(config.providers)) {
    providerConfigs[name] = resolveProviderConfig(
      config,
      name,
      scope(() => undefined),
    );
  }
  /** By provider name and by type name (`sim`, `sim.bucket`): the same context. */
  const contexts = new Map<string, ProviderContext>();
  const confirm = opts.confirm ?? (async () => false);
  return {
    config,
    target,
    targetInfo,
    releaseId,
    executionId,
    artifacts: inputs.artifacts,
    destroy: inputs.destroy ?? false,
    opts,
    parallelism: Math.max(1, opts.parallelism ?? 10),
    retry: { ...DEFAULT_RETRY, ...opts.retry },
    log,
    signal,
    providerConfigs,
    typeOf(typeName) {
      const t = opts.catalog.get(typeName);
      if (!t) throw new DroverError('CONFIG_INVALID', `unknown resource type "${typeName}"`);
      return t;
    },
    providerContext(typeName) {
      // Cached by type name too: refresh asks once per resource.
      const known = contexts.get(typeName);
      if (known) return known;
      const provider = typeName.split('.')[0] ?? typeName;
      let ctx = contexts.get(provider);
      if (!ctx) {
        ctx = {
          http: opts.http,
          flockDir: config.dir,
          flock: config.flock,
          target: targetInfo,
          releaseId,
          executionId,
          config: providerConfigs[provider] ?? {},
          providerConfigs,
          log,
          signal,
          confirm,
        };
        contexts.set(provider, ctx);
      }
      contexts.set(typeName, ctx);
      return ctx;
    },
    scope,
  };
}
