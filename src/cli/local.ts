/**
 * @module cli/local — local mode: the flock from a directory, state in the data directory (PGlite) or
 * DATABASE_URL, provider calls signed with the simulator keys from the environment.
 */
import { resolve } from 'node:path';
import { DroverError } from '../errors.ts';
import { loadFlock } from '../config/index.ts';
import type { FlockConfig } from '../config/model.ts';
import type { EngineOptions } from '../engine/index.ts';
import { defaultCatalog } from '../providers/index.ts';
import type { TypeCatalog } from '../providers/types.ts';
import {
  createPlainHttpClient,
  createSignedHttpClient,
  credentialsFromEnv,
  type ClosableHttpClient,
} from '../signing/index.ts';
import { DEFAULT_DATA_DIR, openStore, resolveStoreOptions } from '../store/index.ts';
import { DbStateBackend } from '../store/state-store.ts';
import type { CliIo } from './io.ts';

export interface StoreFlags {
  /** Default ./.drover (SPEC §8). */
  readonly dataDir?: string;
  /** Default DATABASE_URL; when set, PostgreSQL is used instead of PGlite. */
  readonly databaseUrl?: string;
}

export interface LoadedFlock {
  readonly config: FlockConfig;
  readonly catalog: TypeCatalog;
}

/** Parses and validates the flock in `dir` (CONFIG_INVALID lists every problem with its location). */
export async function loadLocalFlock(dir: string): Promise<LoadedFlock> {
  const catalog = defaultCatalog();
  const config = await loadFlock(resolve(dir), catalog);
  return { config, catalog };
}

/**
 * Whether the flock makes signed calls: sim.* and http.* resources, and drover.deployment (which deploys
 * through the simulator's API). Only then are the keys required, so a flock of local.* files runs with none.
 */
export function needsCredentials(config: FlockConfig): boolean {
  return Object.values(config.resources).some((r) => {
    const provider = r.type.split('.')[0];
    return provider === 'sim' || provider === 'http' || r.type === 'drover.deployment';
  });
}

function httpClient(config: FlockConfig, env: CliIo['env']): ClosableHttpClient {
  if (!needsCredentials(config)) return createPlainHttpClient();
  try {
    return createSignedHttpClient(credentialsFromEnv(env));
  } catch (e) {
    if (e instanceof DroverError && e.code === 'CREDENTIALS_MISSING') {
      throw new DroverError(
        'CREDENTIALS_MISSING',
        `flock '${config.flock}' calls the region simulator, which takes only signed requests: ${e.message}. ` +
          'Set DROVER_SIM_ACCESS_KEY and DROVER_SIM_SECRET_KEY to a pair the simulator accepts, and DROVER_SIM_URL to its address.',
        { details: e.details },
      );
    }
    throw e;
  }
}

export interface LocalEngine {
  /** Engine options for one call; add onEvent/confirm per call. */
  readonly options: EngineOptions;
  close(): Promise<void>;
}

/**
 * Opens the store and builds the engine options. Until close(), the store holds the data directory's
 * lock (PGlite) and the target's state lock (both stores): a second process gets STATE_LOCKED, exit 3.
 */
export async function openLocalEngine(
  loaded: LoadedFlock,
  flags: StoreFlags & {
    /** The target worked on: its state is locked (`state:FLOCK/TARGET`) until close. */
    target: string;
    parallelism?: number;
    confirm?: (q: string) => Promise<boolean>;
    signal?: AbortSignal;
  },
  io: CliIo,
): Promise<LocalEngine> {
  const http = httpClient(loaded.config, io.env);
  let db;
  try {
    db = await openStore({
      ...resolveStoreOptions(
        { dataDir: resolve(flags.dataDir ?? DEFAULT_DATA_DIR), databaseUrl: flags.databaseUrl },
        io.env,
      ),
      // One command, then the process ends (see StoreOptions.shortLived).
      shortLived: true,
    });
  } catch (e) {
    http.close();
    throw e;
  }
  const opened = db;
  let lock: { release(): Promise<void> };
  try {
    lock = await opened.lock(`state:${loaded.config.flock}/${flags.target}`);
  } catch (e) {
    http.close();
    await opened.close();
    throw e;
  }
  return {
    options: {
      catalog: loaded.catalog,
      state: new DbStateBackend(opened),
      http,
      env: io.env,
      ...(flags.parallelism !== undefined ? { parallelism: flags.parallelism } : {}),
      ...(flags.confirm ? { confirm: flags.confirm } : {}),
      ...(flags.signal ? { signal: flags.signal } : {}),
    },
    close: async () => {
      http.close();
      await lock.release().catch(() => {});
      await opened.close();
    },
  };
}
