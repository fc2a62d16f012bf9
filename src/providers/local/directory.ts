/**
 * @module providers/local/directory — `local.directory`: a real directory on the host running the task.
 *
 * id = the absolute path. Deleting refuses a directory that still holds files (they are not ours to
 * lose) unless `force_destroy: true`.
 */
import { mkdir, rm, rmdir, stat } from 'node:fs/promises';
import { z } from 'zod';
import { defineType } from '../define.ts';
import { ProviderError } from '../types.ts';
import type { Attributes } from '../types.ts';
import { errnoCode, fsError, resolvePath } from './paths.ts';

const schema = z.strictObject({
  path: z.string().min(1),
  force_destroy: z.boolean().optional(),
});
type Props = z.infer<typeof schema>;

async function readAt(abs: string, props: Props): Promise<Attributes | null> {
  try {
    const st = await stat(abs);
    return st.isDirectory() ? { ...props, id: abs, path: abs } : null;
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return null;
    throw fsError(e, `local.directory: cannot stat ${abs}`);
  }
}

export const localDirectory = defineType<Props>({
  type: 'local.directory',
  description: 'A directory on the host running the task; path absolute or relative to the flock directory.',
  schema,
  replaceOn: ['path'],
  kind: 'infrastructure',
  read: (_ctx, id, props) => readAt(id, props),
  async create(ctx, props) {
    const abs = resolvePath(ctx, props.path);
    try {
      await mkdir(abs, { recursive: true });
    } catch (e) {
      throw fsError(e, `local.directory: cannot create ${abs}`);
    }
    const attrs = await readAt(abs, props);
    if (!attrs)
      throw new ProviderError(
        `local.directory: ${abs} exists and is not a directory`,
        undefined,
        'NOT_A_DIRECTORY',
      );
    return attrs;
  },
  // force_destroy is the only property that is not the path, and it matters only at delete.
  update: async (_ctx, id, props) => ({ ...props, id, path: id }),
  async delete(_ctx, id, prior) {
    try {
      if (prior.force_destroy === true) await rm(id, { recursive: true, force: true });
      else await rmdir(id);
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT') return;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new ProviderError(
          `local.directory: ${id} is not empty (set force_destroy: true to delete its contents)`,
          undefined,
          'DIRECTORY_NOT_EMPTY',
        );
      }
      throw fsError(e, `local.directory: cannot delete ${id}`);
    }
  },
  lookup: (ctx, { props }) => readAt(resolvePath(ctx, props.path), props),
});
