/**
 * @module store/pglite-db — the embedded store: PGlite (PostgreSQL in WebAssembly) in DATA_DIR/pgdata.
 *
 * One process per data directory (see data-dir-lock.ts). PGlite runs in a worker thread of its own and
 * one statement at a time; a mutex here queues statements behind an open transaction, so callers may
 * issue them freely.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { PGliteOptions } from '@electric-sql/pglite';
import { DroverError } from '../errors.ts';
import { acquireDataDirLock } from './data-dir-lock.ts';
import type { Db, QueryResult, Queryable } from './types.ts';

export const DEFAULT_DATA_DIR = './.drover';

/** The calls the database thread answers (see pglite-thread.mjs). */
/** `begin`: run BEGIN first, in the same message (a transaction's first statement). */
type ThreadOp =
  | { op: 'query'; sql: string; params: unknown[]; begin?: boolean }
  | { op: 'exec'; sql: string; begin?: boolean }
  | { op: 'close' };

type ThreadReply =
  | { id: number; ok: true; result: QueryResult<unknown> }
  | { id: number; ok: false; error: { message: string } & Record<string, unknown> };

/** A tiny FIFO mutex: a transaction holds the one connection; other statements wait for it to end. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => next);
    return ready;
  }
}

/**
 * PGlite in a worker thread. Why not in the event loop's thread: PGlite's WebAssembly work is
 * synchronous CPU, so in-thread every statement stalls all I/O of the process (heartbeat acks, HTTP
 * calls in flight); in its own thread it runs beside them, on the other core.
 */
class PgliteThread {
  readonly #worker: Worker;
  readonly #waiting = new Map<
    number,
    { resolve: (r: QueryResult<unknown>) => void; reject: (e: Error) => void }
  >();
  #next = 1;
  #dead: Error | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (m: ThreadReply) => {
      const w = this.#waiting.get(m.id);
      if (!w) return;
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0) worker.unref();
      if (m.ok) w.resolve(m.result);
      else w.reject(Object.assign(new Error(m.error.message), m.error));
    });
    const fail = (e: Error): void => {
      this.#dead = e;
      for (const w of this.#waiting.values()) w.reject(e);
      this.#waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the embedded database thread exited (${code})`)));
  }

  static async start(path: string, opts: { readonly nice?: number } = {}): Promise<PgliteThread> {
    // initdb's module only matters for a directory that holds no database yet.
    const modules = await compiledModules(!existsSync(join(path, 'PG_VERSION')));
    const worker = new Worker(new URL('./pglite-thread.mjs', import.meta.url), {
      workerData: { path, ...modules, ...(opts.nice ? { nice: opts.nice } : {}) },
      // Plain JavaScript needs no loader; and flags such as --input-type are refused in a worker.
      execArgv: [],
      // The thread's JavaScript heap only holds messages in flight (PostgreSQL's memory is the
      // WebAssembly's): a small young generation (8 MB, not V8's 48) keeps ~20 MB of garbage from
      // piling up between scavenges.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    const thread = new PgliteThread(worker);
    await new Promise<void>((resolve, reject) =>
      thread.#waiting.set(0, { resolve: () => resolve(), reject }),
    );
    worker.unref();
    return thread;
  }

  call<R>(op: ThreadOp): Promise<QueryResult<R>> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise<QueryResult<R>>((resolve, reject) => {
      // Referenced only while a call is waiting: an idle database does not keep the process alive, a
      // busy one does (as a socket with a request in flight would).
      if (this.#waiting.size === 0) this.#worker.ref();
      this.#waiting.set(id, { resolve: resolve as (r: QueryResult<unknown>) => void, reject });
      this.#worker.postMessage({ id, ...op });
    });
  }

  async stop(): Promise<void> {
    try {
      if (!this.#dead) await this.call({ op: 'close' });
    } finally {
      await this.#worker.terminate();
    }
  }
}

/** The compiled-module type PGlite takes (Node's types do not declare the WebAssembly global). */
type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>;
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } })
  .WebAssembly;

/*
 * Baseline-compiled WebAssembly for a short-lived process. V8 compiles WebAssembly twice: at once with
 * its baseline compiler (Liftoff), then, in background threads, each function that turns hot again with
 * its optimising one (TurboFan). PGlite is ~10 MB of WebAssembly, and in a process that lives for one
 * command the second compilation is pure cost: measured in `apply-graph` (2,000 resources, ~1.8 s) it
 * took ~0.7 s of CPU on the background threads — on a 2-core machine, CPU the event loop and the
 * services being called needed — and finished about when the command did. Baseline code runs PGlite's
 * statements ~1.5× slower, which costs that command far less (~0.2 s) than it saves. A server keeps the
 * optimising tier: its hot functions are compiled once and then serve for hours.
 *
 * The flag is V8's and process-wide; it affects WebAssembly only (PGlite is the only WebAssembly
 * Drover runs) and is set before the module is compiled.
 */
let baselineOnly = false;
function useBaselineWasmOnly(): void {
  if (baselineOnly) return;
  baselineOnly = true;
  setFlagsFromString('--liftoff-only');
}

/*
 * In a short-lived process the database thread also runs at a lower CPU priority (nice +10) than the
 * event loop. A command's critical path is its event loop: the calls it makes and the answers it
 * handles. The database work trails it — state records are written after the calls they record, and
 * intents one step ahead of the creates that need them (engine/apply.ts) — so when both want the CPU,
 * the event loop (and, on a small machine, the services it calls) should get it first. Measured in
 * `apply-graph` on PGlite (2 cores, alternating runs): median wall 1.71 s → 1.63 s. A server keeps one
 * priority for both: there the database is the shared resource every request waits for.
 */
const SHORT_LIVED_THREAD_NICE = 10;

let compiled: Promise<WasmModule | undefined> | undefined;
let compiledInitdb: Promise<WasmModule | undefined> | undefined;

/**
 * PGlite's WebAssembly, compiled once per process and handed to every database thread (a compiled
 * module is shared between threads, not copied). If the files are not where the package keeps them,
 * each thread compiles its own — slower, same result.
 */
async function compiledModules(
  withInitdb: boolean,
): Promise<{ pgliteWasmModule?: WasmModule; initdbWasmModule?: WasmModule }> {
  const dist = (): string => dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  compiled ??= wasm.compile(await readFile(join(dist(), 'pglite.wasm'))).catch(() => undefined);
  if (withInitdb)
    compiledInitdb ??= wasm.compile(await readFile(join(dist(), 'initdb.wasm'))).catch(() => undefined);
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all([
    compiled,
    withInitdb ? compiledInitdb : undefined,
  ]);
  return {
    ...(pgliteWasmModule ? { pgliteWasmModule } : {}),
    ...(initdbWasmModule ? { initdbWasmModule } : {}),
  };
}

/**
 * Without parameters the simple protocol is used, as `pg` does: several statements may be sent at
 * once (migrations) and the last one's result is returned. With parameters, one statement.
 */
function run<R>(
  thread: PgliteThread,
  sql: string,
  params?: readonly unknown[],
  begin = false,
): Promise<QueryResult<R>> {
  if (!params || params.length === 0) return thread.call<R>({ op: 'exec', sql, begin });
  return thread.call<R>({ op: 'query', sql, params: [...params], begin });
}

/** Opens (creating if need be) the PGlite database of a data directory. */
export async function openPgliteDb(
  dataDir: string = DEFAULT_DATA_DIR,
  opts: { readonly shortLived?: boolean } = {},
): Promise<Db> {
  const dir = resolve(dataDir);
  if (opts.shortLived) useBaselineWasmOnly();
  try {
    // 0700: the directory holds the state and, for a server, its admin token.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DroverError(
      'STORE_UNAVAILABLE',
      `cannot create the data directory ${dir}: ${(e as Error).message}`,
      {
        details: { dataDir: dir },
        cause: e,
      },
    );
  }
  const lock = acquireDataDirLock(dir);
  let thread: PgliteThread;
  try {
    thread = await PgliteThread.start(
      join(dir, 'pgdata'),
      opts.shortLived ? { nice: SHORT_LIVED_THREAD_NICE } : {},
    );
  } catch (e) {
    lock.release();
    const reason = e instanceof Error ? e.message : String(e);
    throw new DroverError(
      'STORE_UNAVAILABLE',
      `cannot open the embedded database in ${dir}/pgdata: ${reason}`,
      {
        details: { dataDir: dir },
        cause: e,
      },
    );
  }
  return new PgliteDb(thread, lock.release, dir);
}

class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  #closed = false;
  readonly #mutex = new Mutex();

  constructor(
    private readonly thread: PgliteThread,
    private readonly releaseLock: () => void,
    readonly dataDir: string,
  ) {}

  /*
   * The mutex orders what is POSTED to the database thread, not what waits for an answer. The thread
   * runs its messages one after another in arrival order (pglite-thread.mjs), so a statement posted
   * after a transaction's COMMIT runs after it, never inside it, and one posted before a BEGIN runs
   * before it. So a plain statement holds the mutex only while it is posted, and a transaction until
   * its COMMIT (or ROLLBACK) is posted. Holding it until the answer came back would leave the thread
   * idle for every answer's trip to the event loop and the next statement's trip back — on a busy
   * server that wait, not the database's own work, is what statements queue behind.
   */
  async query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>> {
    const release = await this.#mutex.lock();
    let answer: Promise<QueryResult<R>>;
    try {
      answer = run<R>(this.thread, sql, params);
    } finally {
      release();
    }
    return answer;
  }

  readonly #locks = new Set<string>();

  /** The data directory is this process's alone (drover.lock); within the process, names are exclusive. */
  async lock(name: string): Promise<{ release(): Promise<void> }> {
    if (this.#locks.has(name)) {
      throw new DroverError('STATE_LOCKED', `${name} is in use by another operation of this process`, {
        details: { lock: name },
      });
    }
    this.#locks.add(name);
    return {
      release: async () => {
        this.#locks.delete(name);
      },
    };
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    // Inside fn, use tx only: a query on the Db itself waits for this transaction to end.
    const release = await this.#mutex.lock();
    // BEGIN travels with the transaction's first statement (one message to the database thread, not
    // two); a transaction that ran no statement has nothing to commit. The mutex is released once the
    // COMMIT or ROLLBACK is posted (see query).
    let begun = false;
    let released = false;
    const post = (sql: 'COMMIT' | 'ROLLBACK'): Promise<QueryResult<unknown>> => {
      const answer = this.thread.call({ op: 'exec', sql });
      released = true;
      release();
      return answer;
    };
    try {
      let out: T;
      try {
        out = await fn({
          query: <R>(sql: string, params?: readonly unknown[]) => {
            const begin = !begun;
            begun = true;
            return run<R>(this.thread, sql, params, begin);
          },
        });
      } catch (e) {
        if (begun) await post('ROLLBACK').catch(() => {});
        throw e;
      }
      if (begun) await post('COMMIT');
      return out;
    } finally {
      if (!released) release();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      const release = await this.#mutex.lock();
      try {
        await this.thread.stop();
      } finally {
        release();
      }
    } finally {
      this.releaseLock();
    }
  }
}
