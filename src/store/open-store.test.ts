/**
 * openStore: the PGlite data directory (lock file, mode, reopen) with real child processes, and clear
 * STORE_UNAVAILABLE errors for databases that cannot be reached.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freshPgliteDataDir } from '../../test/helpers/db.ts';
import { DroverError } from '../errors.ts';
import { DbStateBackend, LOCK_FILE, openStore, redactUrl, resolveStoreOptions } from './index.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'drover-open-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A data directory with a database already in it (initdb takes seconds; the lock is what we test). */
async function dataDir(): Promise<string> {
  const dir = await freshPgliteDataDir();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<DroverError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(DroverError);
  expect((e as DroverError).code).toBe(code);
  return e as DroverError;
}

const STORE_INDEX = new URL('./index.ts', import.meta.url).href;

/** A real second process that opens the store in dir, prints READY, and waits (or exits when told). */
function holder(dir: string, then: 'wait' | 'exit'): Promise<ChildProcess> {
  const script = `
    const { openStore } = await import(${JSON.stringify(STORE_INDEX)});
    await openStore({ dataDir: ${JSON.stringify(dir)} });
    process.stdout.write('READY\\n');
    ${then === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) resolve(child);
    });
    child.on('exit', (code) => {
      if (then === 'wait') reject(new Error(`holder exited early (${code}): ${err}`));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.on('exit', () => resolve()));
}

describe('PGlite data directory', () => {
  it('creates the directory with mode 0700, persists across reopen, and removes the lock on close', async () => {
    const dir = join(tempDir(), 'nested', 'data');
    const db = await openStore({ dataDir: dir });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    const serial = await new DbStateBackend(db).commit('f', 't', {
      kind: 'put',
      action: 'create',
      resource: {
        address: 'a',
        type: 't',
        id: '1',
        properties: {},
        attributes: { id: '1' },
        dependencies: [],
      },
    });
    expect(serial).toBe(1);
    await db.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

    const again = await openStore({ dataDir: dir });
    cleanups.push(() => again.close());
    expect((await new DbStateBackend(again).load('f', 't')).serial).toBe(1);
  });

  it.skipIf(!existsSync('/proc/thread-self'))(
    'shortLived (a CLI command) runs the database thread at nice 10 and the rest of the process as it was',
    async () => {
      const niceOf = (tid: string): number => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        // Fields after "pid (comm) ": state is the 3rd field, nice the 19th.
        return Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[16]);
      };
      const niced = (): string[] => readdirSync('/proc/self/task').filter((tid) => niceOf(tid) === 10);
      const before = niced();
      const mainBefore = niceOf(String(process.pid));
      const db = await openStore({ dataDir: await dataDir(), shortLived: true });
      cleanups.push(() => db.close());
      const after = niced().filter((tid) => !before.includes(tid));
      expect(after).toHaveLength(1);
      expect(niceOf(String(process.pid))).toBe(mainBefore);
      expect(after[0]).not.toBe(String(process.pid));
      // And it is a working store.
      expect((await new DbStateBackend(db).load('f', 't')).serial).toBe(0);
    },
  );

  it('refuses a second open in the same process with STATE_LOCKED (exit code 3)', async () => {
    const dir = await dataDir();
    const db = await openStore({ dataDir: dir });
    cleanups.push(() => db.close());
    const e = await expectCode(openStore({ dataDir: dir }), 'STATE_LOCKED');
    expect(e.exitCode).toBe(3);
    expect(e.message).toBe(`the data directory ${dir} is in use by process ${process.pid}`);
  });

  it('refuses while another live process holds it, and takes the lock over once that process is killed', async () => {
    const dir = await dataDir();
    const child = await holder(dir, 'wait');
    const e = await expectCode(openStore({ dataDir: dir }), 'STATE_LOCKED');
    expect(e.message).toBe(`the data directory ${dir} is in use by process ${child.pid}`);

    // SIGKILL: no exit handler runs, the lock file stays behind with a dead pid.
    child.kill('SIGKILL');
    await exited(child);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(child.pid));
    const db = await openStore({ dataDir: dir });
    cleanups.push(() => db.close());
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
  });

  it('takes over a stale lock file naming a dead pid', async () => {
    const dir = await dataDir();
    const gone = spawn(process.execPath, ['-e', '']);
    await exited(gone);
    writeFileSync(join(dir, LOCK_FILE), `${gone.pid}\n`);
    const db = await openStore({ dataDir: dir });
    cleanups.push(() => db.close());
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
  });

  it('releases the lock when the holding process exits without closing', async () => {
    const dir = await dataDir();
    const child = await holder(dir, 'exit');
    await exited(child);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('reports a data directory that cannot be created as STORE_UNAVAILABLE naming it', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const e = await expectCode(openStore({ dataDir: join(file, 'data') }), 'STORE_UNAVAILABLE');
    expect(e.message).toContain(join(file, 'data'));
  });
});

describe('unreachable PostgreSQL', () => {
  it('reports a refused connection as STORE_UNAVAILABLE, naming the URL without its password', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const e = await expectCode(
      openStore({ databaseUrl: `postgres://drover:s3cret@127.0.0.1:${port}/drover` }),
      'STORE_UNAVAILABLE',
    );
    expect(e.message).toContain(`postgres://drover:***@127.0.0.1:${port}/drover`);
    expect(e.message).not.toContain('s3cret');
    expect(JSON.stringify(e.toJSON())).not.toContain('s3cret');
  });

  it('reports a URL that is not postgres:// as STORE_UNAVAILABLE', async () => {
    const e = await expectCode(
      openStore({ databaseUrl: 'mysql://root:pw@localhost/x' }),
      'STORE_UNAVAILABLE',
    );
    expect(e.message).toContain('postgres://');
    expect(JSON.stringify(e.toJSON())).not.toContain(':pw@');
  });

  it.skipIf(!process.env['DATABASE_URL'])(
    'reports a database that does not exist as STORE_UNAVAILABLE',
    async () => {
      const u = new URL(process.env['DATABASE_URL']!);
      u.pathname = '/drover_no_such_database';
      const e = await expectCode(openStore({ databaseUrl: u.toString() }), 'STORE_UNAVAILABLE');
      expect(e.message).toContain('drover_no_such_database');
    },
  );
});

describe('helpers', () => {
  it('redactUrl masks the password only', () => {
    expect(redactUrl('postgres://u:p%40ss@h:5432/db?sslmode=require')).toBe(
      'postgres://u:***@h:5432/db?sslmode=require',
    );
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
  });

  it('resolveStoreOptions prefers the flag, then DATABASE_URL, else the data directory', () => {
    expect(
      resolveStoreOptions({ databaseUrl: 'postgres://a/b' }, { DATABASE_URL: 'postgres://c/d' }),
    ).toEqual({
      databaseUrl: 'postgres://a/b',
    });
    expect(resolveStoreOptions({ dataDir: '/x' }, { DATABASE_URL: 'postgres://c/d' })).toEqual({
      databaseUrl: 'postgres://c/d',
    });
    expect(resolveStoreOptions({ dataDir: '/x' }, { DATABASE_URL: '' })).toEqual({ dataDir: '/x' });
    expect(resolveStoreOptions({}, {})).toEqual({ dataDir: './.drover' });
  });
});
