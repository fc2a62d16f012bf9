/**
 * Just enough of the scheduler's worker API for the proxy benchmark: register and heartbeat, answered
 * with acknowledgements signed by the real protocol helpers and covering one task, so the real signing
 * proxy (its own process) holds a valid lease for that task while the load runs — without the database
 * work of a real server sharing the CPU with the path being measured.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signAck, type LeaseAck } from '../../src/scheduler/protocol.ts';
import { DEFAULT_TIMING } from '../../src/scheduler/timing.ts';

export interface FakeScheduler {
  readonly url: string;
  readonly token: string;
  /** Heartbeats answered so far. */
  heartbeats: number;
  close(): Promise<void>;
}

export async function startFakeScheduler(task: { id: string; token: number }): Promise<FakeScheduler> {
  const token = `wt-${randomBytes(8).toString('hex')}`;
  const ackKey = randomBytes(32).toString('hex');
  const t = DEFAULT_TIMING;
  const state = { heartbeats: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = (status: number, body: unknown): void => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      };
      if (req.headers.authorization !== `Bearer ${token}`)
        return json(401, { error: { code: 'UNAUTHORIZED', message: 'bad token' } });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const parts = path.split('/').filter(Boolean);
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length
          ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
          : {};
      } catch {
        return json(400, { error: { code: 'VALIDATION', message: 'not JSON' } });
      }
      if (path === '/api/v1/workers/register') {
        return json(201, {
          worker_id: 'bench-worker',
          ack_key: ackKey,
          heartbeat_ms: t.heartbeatMs,
          lease_ttl_ms: t.leaseTtlMs,
          lease_grace_ms: t.leaseGraceMs,
          margin_ms: t.marginMs,
          upstream_timeout_ms: t.upstreamTimeoutMs,
        });
      }
      if (parts[2] === 'workers' && parts[4] === 'heartbeat') {
        state.heartbeats++;
        const now = Date.now();
        const ack: LeaseAck = {
          worker_id: parts[3] ?? '',
          seq: Number(body['seq']),
          issued_at: new Date(now).toISOString(),
          lease_ttl_ms: t.leaseTtlMs,
          lease_expires_at: new Date(now + t.leaseTtlMs).toISOString(),
          tasks: [{ task_id: task.id, token: task.token }],
        };
        return json(200, { ack, sig: signAck(ackKey, ack), assignments: [] });
      }
      return json(404, { error: { code: 'NOT_FOUND', message: path } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    token,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
