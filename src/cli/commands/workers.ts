/**
 * @module cli/commands/workers — `drover workers [--json]`: the worker fleet as the server sees it, with
 * each worker's lease (SPEC §8).
 */
import { ApiClient, resolveServer, type ServerFlags, type WorkerView } from '../api-client.ts';
import type { CliIo } from '../io.ts';

export interface WorkersOptions extends ServerFlags {
  readonly json?: boolean;
}

export async function runWorkers(o: WorkersOptions, io: CliIo): Promise<number> {
  const { server, token } = resolveServer(o, io.env);
  const workers = await new ApiClient(server, token).workers();
  if (o.json) {
    io.stdout.write(`${JSON.stringify(workers, null, 2)}\n`);
    return 0;
  }
  if (!workers.length) {
    io.stdout.write(`no workers registered with ${server}\n`);
    return 0;
  }
  io.stdout.write(table(workers));
  return 0;
}

function table(workers: readonly WorkerView[]): string {
  const head = ['NAME', 'STATUS', 'HOST', 'PID', 'PROXY', 'CAPACITY', 'TASKS', 'LEASE EXPIRES'];
  const rows = workers.map((w) => [
    w.name,
    w.status,
    w.host,
    String(w.pid),
    w.proxy_pid === null || w.proxy_pid === undefined ? '-' : String(w.proxy_pid),
    String(w.capacity),
    w.tasks.length ? w.tasks.join(',') : '-',
    w.lease_expires_at ?? '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `${cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}\n`;
  return line(head) + rows.map(line).join('');
}
