import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../providers/types.ts';
import { startSim } from '../sim/index.ts';
import { createPlainHttpClient, createSignedHttpClient, type ClosableHttpClient } from './index.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function server(
  handler: http.RequestListener,
): Promise<{ url: string; server: http.Server; connections: () => number }> {
  let connections = 0;
  const s = http.createServer(handler);
  s.on('connection', () => (connections += 1));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        s.close(() => r());
        s.closeAllConnections();
      }),
  );
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    server: s,
    connections: () => connections,
  };
}

function client(c: ClosableHttpClient): ClosableHttpClient {
  cleanups.push(() => c.close());
  return c;
}

describe('HttpClient', () => {
  it('sends JSON, parses JSON and text, and does not throw for error statuses', async () => {
    const { url } = await server((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/text') {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('nope');
          return;
        }
        res.writeHead(418, { 'content-type': 'application/json', 'x-multi': ['a', 'b'] });
        res.end(
          JSON.stringify({
            method: req.method,
            ct: req.headers['content-type'],
            got: JSON.parse(body) as unknown,
            custom: req.headers['x-custom'],
          }),
        );
      });
    });
    const c = client(createPlainHttpClient());
    const r = await c.request({
      method: 'PUT',
      url: `${url}/x`,
      headers: { 'X-Custom': 'yes' },
      body: { a: [1, 2] },
    });
    expect(r.status).toBe(418);
    expect(r.body).toEqual({ method: 'PUT', ct: 'application/json', got: { a: [1, 2] }, custom: 'yes' });
    expect(r.headers['x-multi']).toBe('a, b');
    expect(await c.request({ method: 'GET', url: `${url}/text` })).toMatchObject({
      status: 404,
      body: 'nope',
    });
  });

  it('throws TransientError when the connection is refused or no answer comes in time', async () => {
    const { url, server: s } = await server(() => {
      /* never answers */
    });
    const c = client(createPlainHttpClient({ timeoutMs: 200 }));
    const slow = await c.request({ method: 'GET', url }).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(TransientError);
    expect(String((slow as Error).message)).toMatch(/no response within 200 ms/);

    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
    const refused = await c
      .request({ method: 'GET', url: `http://127.0.0.1:${port}/` })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TransientError);
    expect(String((refused as Error).message)).toMatch(/ECONNREFUSED/);
  });

  it('rejects with the abort reason (not a TransientError) when the signal fires', async () => {
    const { url } = await server(() => {
      /* never answers */
    });
    const c = client(createPlainHttpClient({ timeoutMs: 5000 }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const e = await c.request({ method: 'GET', url, signal: ac.signal }).catch((x: unknown) => x);
    expect(e).not.toBeInstanceOf(TransientError);
    expect((e as Error).name).toBe('AbortError');
  });

  it('one signal shared by many calls aborts only those still in flight, and refuses later ones', async () => {
    const { url } = await server((req, res) => {
      if (req.url === '/fast') res.end('{"ok":true}');
      // other paths never answer
    });
    const c = client(createPlainHttpClient({ timeoutMs: 5000 }));
    const ac = new AbortController();
    const done = await Promise.all(
      Array.from({ length: 5 }, () => c.request({ method: 'GET', url: `${url}/fast`, signal: ac.signal })),
    );
    expect(done.every((r) => r.status === 200)).toBe(true);
    const hanging = Array.from({ length: 3 }, () =>
      c.request({ method: 'GET', url: `${url}/slow`, signal: ac.signal }).catch((x: unknown) => x),
    );
    setTimeout(() => ac.abort(), 50);
    for (const e of await Promise.all(hanging)) expect((e as Error).name).toBe('AbortError');
    const late = await c
      .request({ method: 'GET', url: `${url}/fast`, signal: ac.signal })
      .catch((x: unknown) => x);
    expect((late as Error).name).toBe('AbortError');
  });

  it('keeps connections alive and bounded by maxSockets', async () => {
    const { url, connections } = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    const c = client(createPlainHttpClient({ maxSockets: 4 }));
    for (let round = 0; round < 10; round++) {
      const rs = await Promise.all(Array.from({ length: 8 }, () => c.request({ method: 'GET', url })));
      expect(rs.every((r) => r.status === 200)).toBe(true);
    }
    expect(connections()).toBeLessThanOrEqual(4);
  });

  it('survives the server closing idle keep-alive sockets', async () => {
    const { url, server: s } = await server((_req, res) => res.end('ok'));
    s.keepAliveTimeout = 50;
    const c = client(createPlainHttpClient());
    for (let i = 0; i < 4; i++) {
      expect((await c.request({ method: 'GET', url })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 50 + i * 10));
    }
  });

  it('signs many concurrent calls that the simulator all accepts', async () => {
    const creds = { accessKeyId: 'AKC', secretAccessKey: 'sc' };
    const sim = await startSim({ keys: { AKC: 'sc' } });
    cleanups.push(() => sim.close());
    const c = client(createSignedHttpClient(creds, { maxSockets: 16 }));
    const rs = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        c.request({
          method: i % 10 === 0 ? 'POST' : 'GET',
          url: `${sim.url}/regions/r1/users`,
          body: i % 10 === 0 ? { name: `u${i}` } : undefined,
        }),
      ),
    );
    expect(rs.filter((r) => r.status >= 300)).toEqual([]);
  });
});
