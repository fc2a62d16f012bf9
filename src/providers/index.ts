/**
 * @module providers — the provider contract and every built-in resource type (SPEC.md §3 "Providers").
 *
 * `defaultCatalog()` is what the config validator and the engine use; `createCatalog(types)` builds one
 * from any list (tests, plugins).
 */
import { createCatalog } from './catalog.ts';
import {
  droverAlarmWatch,
  droverApproval,
  droverDeployment,
  droverTest,
  droverWait,
} from './drover/index.ts';
import { httpResource } from './http/index.ts';
import { localDirectory, localFile } from './local/index.ts';
import { postgresDatabase, postgresGrant, postgresRole, postgresSchema } from './postgres/index.ts';
import { simBucket, simDnsRecord, simInstance, simLoadBalancer, simNetwork, simUser } from './sim/index.ts';
import type { ResourceType, TypeCatalog } from './types.ts';

export type * from './types.ts';
export { ProviderError, TransientError } from './types.ts';
export { createCatalog } from './catalog.ts';
export { parseDuration, tryParseDuration } from './drover/duration.ts';

/** Every built-in type, in a stable order (by provider, then type). */
export function builtinTypes(): readonly ResourceType[] {
  return [
    localFile,
    localDirectory,
    postgresDatabase,
    postgresRole,
    postgresSchema,
    postgresGrant,
    simNetwork,
    simInstance,
    simBucket,
    simDnsRecord,
    simLoadBalancer,
    simUser,
    httpResource,
    droverDeployment,
    droverWait,
    droverTest,
    droverAlarmWatch,
    droverApproval,
  ];
}

let cached: TypeCatalog | undefined;

/** The catalog of every built-in type. */
export function defaultCatalog(): TypeCatalog {
  cached ??= createCatalog(builtinTypes());
  return cached;
}
