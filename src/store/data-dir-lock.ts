/**
 * @module store/data-dir-lock — one process at a time in a PGlite data directory.
 *
 * PGlite is PostgreSQL in this process's memory writing straight to DATA_DIR/pgdata; a second process
 * opening the same files would corrupt them. So the directory holds `drover.lock`, created exclusively
 * and containing the holder's pid. A lock whose pid is dead (a crash, SIGKILL) is stale and taken
 * over; a live holder refuses with STATE_LOCKED (exit code 3).
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../errors.ts';

export const LOCK_FILE = 'drover.lock';

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** True if a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Takes DIR/drover.lock for this process. The directory must exist. Throws STATE_LOCKED when a live
 * process (this one included: PGlite cannot open one directory twice) holds it.
 */
export function acquireDataDirLock(dir: string): DataDirLock {
  const path = join(dir, LOCK_FILE);
  // A few rounds only: each round either wins, fails on a live holder, or removes one stale lock.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(path)) return holdLock(path);
    const pid = readPid(path);
    if (pid !== undefined && isProcessAlive(pid)) {
      throw new DroverError('STATE_LOCKED', `the data directory ${dir} is in use by process ${pid}`, {
        details: { dataDir: dir, pid },
      });
    }
    // Stale (dead pid, or an empty file from a crash between create and write). Move it aside
    // atomically rather than unlinking: if two processes race for the takeover, only one rename
    // succeeds on this file; the other gets ENOENT and retries the exclusive create.
    const aside = `${path}.stale.${process.pid}`;
    try {
      renameSync(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    // We may have moved a lock that a racing process had just created (after another stale takeover).
    // If it is live, put it back (link fails if yet another one appeared meanwhile) and give up.
    const moved = readPid(aside);
    if (moved !== undefined && moved !== pid && isProcessAlive(moved)) {
      try {
        linkSync(aside, path);
      } catch {
        // someone holds the path already; either way it is not ours
      }
      unlinkSync(aside);
      throw new DroverError('STATE_LOCKED', `the data directory ${dir} is in use by process ${moved}`, {
        details: { dataDir: dir, pid: moved },
      });
    }
    unlinkSync(aside);
  }
  throw new DroverError('STATE_LOCKED', `the data directory ${dir} is contended; could not take ${path}`, {
    details: { dataDir: dir },
  });
}

function holdLock(path: string): DataDirLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.removeListener('exit', release);
    // Only remove what is ours: after a takeover by someone else (we were thought dead) it is not.
    if (readPid(path) === process.pid) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  };
  // 'exit' runs on normal exit and process.exit(); a kill by signal leaves a stale lock, which the
  // next opener takes over because the pid is dead.
  process.on('exit', release);
  return { path, release };
}
