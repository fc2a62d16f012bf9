/**
 * @module providers/local/paths — path resolution and atomic writes for local.* resources.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { ProviderError, TransientError } from '../types.ts';
import type { ProviderContext } from '../types.ts';

/** `path` is absolute or relative to the flock directory (SPEC §3). */
export function resolvePath(ctx: ProviderContext, path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(ctx.flockDir, path);
}

export function errnoCode(e: unknown): string | undefined {
  return e !== null && typeof e === 'object' && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

/** Filesystem errors: a full disk or busy file may pass; permissions and bad paths will not. */
export function fsError(e: unknown, what: string): Error {
  const code = errnoCode(e);
  const message = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  if (code === 'EBUSY' || code === 'EAGAIN' || code === 'EMFILE' || code === 'ENFILE')
    return new TransientError(message);
  return new ProviderError(message, undefined, code ?? 'FS_ERROR');
}

/**
 * Writes a file atomically: a temp file beside it, then rename, so a crash leaves either the old
 * content or the new, never half of it. The mode is set on the temp file before the rename so the
 * file never exists with the wrong permissions.
 */
export async function writeAtomic(path: string, content: string, mode: number | undefined): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = resolve(dirname(path), `.${basename(path)}.drover-${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, content, { mode: mode ?? 0o644, flag: 'wx' });
    // writeFile's mode is filtered by the umask; chmod makes it exact.
    if (mode !== undefined) await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** "0644" / "644" / "0755" → number. */
export function parseMode(mode: string): number {
  return parseInt(mode, 8);
}

/** A mode as octal text with as many digits as the configured one had (so "644" stays "644"). */
export function formatMode(mode: number, digits: number): string {
  return (mode & 0o7777).toString(8).padStart(digits, '0');
}
