/** Shared wiring for benchmarks: store, state backend, catalog and a signed client, as local mode does. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openStore } from '../../src/store/index.ts';
import { DbStateBackend } from '../../src/store/state-store.ts';
import { defaultCatalog } from '../../src/providers/index.ts';
import { createSignedHttpClient } from '../../src/signing/index.ts';
import type { Db } from '../../src/store/types.ts';

/** A fresh key pair per benchmark run; a child process of the run inherits its parent's through the env. */
export const benchKeys = {
  DROVER_SIM_ACCESS_KEY: process.env.DROVER_SIM_ACCESS_KEY || 'AKBENCH' + randomBytes(4).toString('hex').toUpperCase(),
  DROVER_SIM_SECRET_KEY: process.env.DROVER_SIM_SECRET_KEY || randomBytes(20).toString('hex'),
};

export async function benchStore(): Promise<{ db: Db; where: string }> {
  const url = process.env.DATABASE_URL;
  if (url) return { db: await openStore({ databaseUrl: url }), where: 'postgresql' };
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-bench-data-'));
  return { db: await openStore({ dataDir }), where: `pglite (${dataDir})` };
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
