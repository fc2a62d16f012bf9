/** Shared wiring for benchmarks: store, state backend, catalog and a signed client, as local mode does. */
import { randomBytes } from 'node:crypto';
import { openTestDb } from '../../test/helpers/db.ts';
import { DbStateBackend } from '../../src/store/state-store.ts';
import { defaultCatalog } from '../../src/providers/index.ts';
import { createSignedHttpClient } from '../../src/signing/index.ts';
import type { Db } from '../../src/store/types.ts';

/** A fresh key pair per benchmark run; a child process of the run inherits its parent's through the env. */
export const benchKeys = {
  DROVER_SIM_ACCESS_KEY:
    process.env.DROVER_SIM_ACCESS_KEY || 'AKBENCH' + randomBytes(4).toString('hex').toUpperCase(),
  DROVER_SIM_SECRET_KEY: process.env.DROVER_SIM_SECRET_KEY || randomBytes(20).toString('hex'),
};

/**
 * A fresh store for one benchmark run, as the tests get theirs: a new PGlite directory, or a new database
 * on the server DATABASE_URL names (dropped by cleanup) — never a database that holds anything else.
 * `shortLived`: opened as a CLI command opens its store (StoreOptions.shortLived), for benchmarks that
 * measure what one `drover` command does in its own process.
 */
export async function benchStore(opts: { readonly shortLived?: boolean } = {}): Promise<{
  db: Db;
  where: string;
  url?: string;
  dataDir?: string;
  cleanup(): Promise<void>;
}> {
  const t = await openTestDb(opts);
  return {
    db: t.db,
    where: t.url ? 'postgresql' : 'pglite',
    ...(t.url ? { url: t.url } : {}),
    ...(t.dataDir ? { dataDir: t.dataDir } : {}),
    cleanup: () => t.cleanup(),
  };
}

export function benchEngineParts(db: Db, maxSockets = 64) {
  return {
    catalog: defaultCatalog(),
    state: new DbStateBackend(db),
    http: createSignedHttpClient(
      { accessKeyId: benchKeys.DROVER_SIM_ACCESS_KEY, secretAccessKey: benchKeys.DROVER_SIM_SECRET_KEY },
      { maxSockets },
    ),
  };
}
