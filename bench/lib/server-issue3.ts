/**
 * A real `drover server` (store + scheduler + API) for the failover and scheduler benchmarks, in the
 * benchmark's process, on a FRESH database of its own: PGlite in a new directory by default, a new
 * PostgreSQL database when DATABASE_URL is set (dropped afterwards). A fresh database per server matters:
 * workers of an earlier run stay "healthy" for a lease after they stop, and must never be handed a task.
 */
import { startServer, type RunningServer } from '../../src/server/index.ts';
import type { Timing } from '../../src/scheduler/timing.ts';
import { openTestDb } from '../../test/helpers/db.ts';
import { api, tempDir, waitFor } from './procs-issue3.ts';

export interface BenchServer {
  readonly server: RunningServer;
  readonly store: 'pglite' | 'postgresql';
  stop(): Promise<void>;
}

export async function startBenchServer(timing: Partial<Timing> = {}): Promise<BenchServer> {
  const tdb = await openTestDb();
  let server: RunningServer;
  try {
    server = await startServer({
      db: tdb.db,
      dataDir: tempDir('drover-bench-server-'),
      port: 0,
      log: false,
      timing,
    });
  } catch (e) {
    await tdb.cleanup();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  return {
    server,
    store: tdb.db.kind === 'pg' ? 'postgresql' : 'pglite',
    stop() {
      stopping ??= (async () => {
        await server.close().catch(() => {});
        await tdb.cleanup().catch(() => {});
      })();
      return stopping;
    },
  };
}

interface WorkerView {
  readonly id: string;
  readonly name: string;
  readonly status: string;
}

/** Waits until every named worker is registered and healthy; returns their ids by name. */
export async function waitForWorkers(
  server: RunningServer,
  names: readonly string[],
  timeoutMs: number,
): Promise<Map<string, string>> {
  return waitFor(
    `workers ${names.join(', ')} to register`,
    async () => {
      const r = await api<{ workers: WorkerView[] }>(server.url, 'GET', '/api/v1/workers', {
        token: server.adminToken,
      });
      if (r.status !== 200) return null;
      const ids = new Map<string, string>();
      for (const w of r.body.workers) if (w.status === 'healthy') ids.set(w.name, w.id);
      return names.every((n) => ids.has(n)) ? ids : null;
    },
    timeoutMs,
    200,
  );
}

export interface TaskView {
  readonly task_id: string;
  readonly status: string;
  readonly token: number;
  readonly worker: string | null;
  readonly created_at: string | null;
  readonly assigned_at: string | null;
  readonly started_at: string | null;
  readonly ended_at: string | null;
  readonly error: unknown;
}

export async function getTaskView(server: RunningServer, id: string): Promise<TaskView> {
  const r = await api<TaskView>(server.url, 'GET', `/api/v1/tasks/${id}`, { token: server.adminToken });
  if (r.status !== 200) throw new Error(`GET task ${id} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
