// The embedded database's own thread: PGlite (PostgreSQL compiled to WebAssembly) runs here, so its
// CPU work runs beside the event loop of the process instead of blocking it (a server's heartbeats and
// an apply's HTTP calls keep flowing while it writes). Plain JavaScript on purpose: a worker thread
// does not inherit the TypeScript loader of its parent (tsx, or Vitest's transform).
//
// Protocol (parentPort): { id, op: 'query' | 'exec' | 'close', sql?, params?, begin? } →
//   { id, ok: true, result: { rows, rowCount } } | { id, ok: false, error: { message, code, ... } }.
// Messages are handled one at a time in arrival order. Transactions: `begin: true` on a transaction's
// first statement runs BEGIN before it (one message, not two); COMMIT/ROLLBACK are sent as 'exec'.
// The parent posts nothing else between a BEGIN and its COMMIT or ROLLBACK.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

// A lower CPU priority for this thread alone (workerData.nice, set for short-lived commands; see
// pglite-db.ts). Linux schedules threads as tasks, each with its own nice value, and a thread may lower
// its own priority without privileges; /proc/thread-self names this thread's task id. Elsewhere (no
// /proc) os.setPriority would change the whole process, so nothing is done.
if (workerData.nice) {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, workerData.nice);
  } catch {
    // Not Linux, or /proc not mounted: the thread keeps the process's priority.
  }
}

function toResult(r) {
  if (!r) return { rows: [], rowCount: 0 };
  return { rows: r.rows, rowCount: r.rowCount ?? r.affectedRows ?? r.rows.length };
}

function toError(e) {
  const out = { message: e instanceof Error ? e.message : String(e) };
  if (e && typeof e === 'object') {
    for (const k of [
      'code',
      'detail',
      'hint',
      'constraint',
      'table',
      'column',
      'schema',
      'severity',
      'position',
    ]) {
      if (e[k] !== undefined) out[k] = e[k];
    }
  }
  return out;
}

let pg;
try {
  // Compiled once by the parent and shared, so opening a store does not compile PGlite's WebAssembly
  // again in every thread.
  pg = await PGlite.create(workerData.path, {
    // 8 MB of shared buffers instead of PostgreSQL's 128 MB: an embedded store's working set is small,
    // file reads still go through the OS page cache, and it saves ~120 MB of resident memory.
    startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=8MB'],
    ...(workerData.pgliteWasmModule ? { pgliteWasmModule: workerData.pgliteWasmModule } : {}),
    ...(workerData.initdbWasmModule ? { initdbWasmModule: workerData.initdbWasmModule } : {}),
  });
  parentPort.postMessage({ id: 0, ok: true, result: { rows: [], rowCount: 0 } });
} catch (e) {
  parentPort.postMessage({ id: 0, ok: false, error: toError(e) });
}

// Strictly one message after another, in arrival order: the parent relies on it (a statement posted
// after a COMMIT runs after it; a transaction's statements run in the order posted, BEGIN first).
let previous = Promise.resolve();
parentPort.on('message', (msg) => {
  previous = previous.then(() => handle(msg));
});

async function handle(msg) {
  try {
    let result;
    if (msg.begin) await pg.exec('BEGIN');
    switch (msg.op) {
      case 'query':
        result = toResult(await pg.query(msg.sql, msg.params));
        break;
      case 'exec': {
        const all = await pg.exec(msg.sql);
        result = toResult(all[all.length - 1]);
        break;
      }
      case 'close':
        await pg.close();
        result = { rows: [], rowCount: 0 };
        break;
      default:
        throw new Error(`unknown op ${msg.op}`);
    }
    parentPort.postMessage({ id: msg.id, ok: true, result });
  } catch (e) {
    parentPort.postMessage({ id: msg.id, ok: false, error: toError(e) });
  }
}
