/**
 * @module providers/local/file — `local.file`: a real file on the host running the task.
 *
 * id = the absolute path. Attributes: the properties, `path` made absolute, and the content's `sha256`.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { z } from 'zod';
import { defineType } from '../define.ts';
import { ProviderError } from '../types.ts';
import type { Attributes, ProviderContext } from '../types.ts';
import { errnoCode, formatMode, fsError, parseMode, resolvePath, writeAtomic } from './paths.ts';

const schema = z.strictObject({
  path: z.string().min(1),
  content: z.string(),
  mode: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'an octal mode such as "0644"')
    .optional(),
});
type Props = z.infer<typeof schema>;

function sha256(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** What is on disk at `abs`, or null when nothing (or something other than a file) is there. */
async function readAt(abs: string, props: Props): Promise<Attributes | null> {
  let st;
  try {
    st = await stat(abs);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return null;
    throw fsError(e, `local.file: cannot stat ${abs}`);
  }
  if (!st.isFile()) return null;
  let content: string;
  try {
    content = await readFile(abs, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw fsError(e, `local.file: cannot read ${abs}`);
  }
  return {
    ...props,
    id: abs,
    path: abs,
    content,
    ...(props.mode !== undefined ? { mode: formatMode(st.mode, props.mode.length) } : {}),
    sha256: sha256(content),
  };
}

async function write(ctx: ProviderContext, props: Props): Promise<Attributes> {
  const abs = resolvePath(ctx, props.path);
  try {
    await writeAtomic(abs, props.content, props.mode === undefined ? undefined : parseMode(props.mode));
  } catch (e) {
    throw fsError(e, `local.file: cannot write ${abs}`);
  }
  const attrs = await readAt(abs, props);
  if (!attrs)
    throw new ProviderError(`local.file: ${abs} vanished right after it was written`, undefined, 'FS_ERROR');
  return attrs;
}

export const localFile = defineType<Props>({
  type: 'local.file',
  description: 'A file on the host running the task; path absolute or relative to the flock directory.',
  schema,
  replaceOn: ['path'],
  kind: 'infrastructure',
  read: (_ctx, id, props) => readAt(id, props),
  create: (ctx, props) => write(ctx, props),
  update: (ctx, _id, props) => write(ctx, props),
  async delete(_ctx, id) {
    try {
      const st = await stat(id);
      if (!st.isFile()) return; // something else took the path; it is not ours to delete
      await rm(id, { force: true });
    } catch (e) {
      if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return;
      throw fsError(e, `local.file: cannot delete ${id}`);
    }
  },
  // A file has no idempotency token: it is "ours" when it holds exactly the content we meant to write.
  async lookup(ctx, { props }) {
    const attrs = await readAt(resolvePath(ctx, props.path), props);
    return attrs && attrs.content === props.content ? attrs : null;
  },
});
