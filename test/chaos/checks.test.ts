/**
 * The chaos suite's own instruments, checked so they can fail: the journal checker flags overlapping,
 * out-of-order and unfenced mutations, and the TCP relay holds bytes while cut and delivers or resets
 * them when healed.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/sim/index.ts';
import { journalViolations, Rng, sleep, TcpRelay, until } from '../helpers/cluster.ts';

let seq = 0;
function entry(
  token: number | null,
  from: number,
  to: number,
  status = 201,
  task: string | null = 't1',
): JournalEntry {
  seq += 1;
  return {
    seq,
    started: new Date(1_700_000_000_000 + from).toISOString(),
    at: new Date(1_700_000_000_000 + to).toISOString(),
    task,
    token,
    worker: 'w',
    operation: 'create',
    resource: '/regions/r/buckets',
    kind: 'bucket',
    region: 'r',
    method: 'POST',
    path: '/regions/r/buckets',
    status,
  };
}

describe('journalViolations', () => {
  it('accepts tokens one after another, and refused calls of an old token', () => {
    expect(
      journalViolations(
        [entry(1, 0, 100), entry(1, 100, 200), entry(2, 900, 1000), entry(1, 950, 960, 409)],
        't1',
      ),
    ).toEqual([]);
  });
  it('flags overlapping mutations of two tokens', () => {
    expect(journalViolations([entry(1, 0, 500), entry(2, 400, 600)], 't1')).toHaveLength(1);
  });
  it('flags an accepted call of a lower token after a higher one', () => {
    const v = journalViolations([entry(2, 0, 100), entry(1, 200, 300)], 't1');
    expect(v.some((x) => x.includes('stale token 1 accepted after token 2'))).toBe(true);
  });
  it('flags mutations without a fence or for another task', () => {
    expect(journalViolations([entry(null, 0, 1, 201, null), entry(1, 2, 3, 201, 't2')], 't1')).toHaveLength(
      2,
    );
  });
});

describe('Rng', () => {
  it('replays from its seed', () => {
    const a = new Rng(42).fork('x');
    const b = new Rng(42).fork('x');
    expect(Array.from({ length: 5 }, () => a.int(0, 1000))).toEqual(
      Array.from({ length: 5 }, () => b.int(0, 1000)),
    );
  });
});

describe('TcpRelay', () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    while (closers.length) await closers.pop()?.();
  });

  async function echo(): Promise<number> {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    return (server.address() as net.AddressInfo).port;
  }

  async function client(port: number): Promise<{ s: net.Socket; got: () => string; closed: () => boolean }> {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    s.on('data', (c: Buffer) => (data += c.toString()));
    s.on('error', () => undefined);
    s.on('close', () => (closed = true));
    await new Promise<void>((r) => s.once('connect', () => r()));
    closers.push(() => void s.destroy());
    return { s, got: () => data, closed: () => closed };
  }

  it('holds bytes while cut, closing nothing, and delivers them late when healed', async () => {
    const relay = await TcpRelay.start([{ host: '127.0.0.1', port: await echo() }]);
    closers.push(() => relay.close());
    const c = await client(relay.port);
    c.s.write('a');
    await until('echo', () => c.got() === 'a', 5_000, 10);
    relay.cut();
    c.s.write('b');
    await sleep(300);
    expect(c.got()).toBe('a');
    expect(c.closed()).toBe(false);
    relay.heal({ reset: false });
    await until('late delivery', () => c.got() === 'ab', 5_000, 10);
  });

  it('resets the connections held across a cut when healed with reset', async () => {
    const relay = await TcpRelay.start([{ host: '127.0.0.1', port: await echo() }]);
    closers.push(() => relay.close());
    const c = await client(relay.port);
    relay.cut();
    c.s.write('x');
    relay.heal({ reset: true });
    await until('reset', () => c.closed(), 5_000, 10);
    expect(c.got()).toBe('');
  });

  it('fails over to the next backend when one refuses', async () => {
    const dead = await (async () => {
      const s = net.createServer();
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      const port = (s.address() as net.AddressInfo).port;
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    })();
    const relay = await TcpRelay.start([
      { host: '127.0.0.1', port: dead },
      { host: '127.0.0.1', port: await echo() },
    ]);
    closers.push(() => relay.close());
    const c = await client(relay.port);
    c.s.write('hi');
    await until('echo through the live backend', () => c.got() === 'hi', 5_000, 10);
  });
});
