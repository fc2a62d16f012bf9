import { mkdtemp, readFile, rm, stat, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testContext } from '../testing.ts';
import { ProviderError } from '../types.ts';
import type { ProviderContext } from '../types.ts';
import { localDirectory, localFile } from './index.ts';

let dir: string;
let ctx: ProviderContext;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-local-'));
  ctx = testContext({ flockDir: dir });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
const key = { idempotencyKey: 'k1' };

describe('local.file', () => {
  it('creates a file relative to the flock dir, atomically, with sha256 and mode', async () => {
    const props = { path: 'out/conf.txt', content: 'hello\n', mode: '0600' };
    expect(localFile.schema.safeParse(props).success).toBe(true);
    const attrs = await localFile.create(ctx, props, key);
    const abs = join(dir, 'out/conf.txt');
    expect(attrs.id).toBe(abs);
    expect(attrs.path).toBe(abs);
    expect(attrs.sha256).toBe('5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
    expect(attrs.mode).toBe('0600');
    expect(await readFile(abs, 'utf8')).toBe('hello\n');
    expect((await stat(abs)).mode & 0o777).toBe(0o600);
    // no temp files left behind
    expect(await readdir(join(dir, 'out'))).toEqual(['conf.txt']);
  });

  it('reads drift, updates, deletes, and deleting twice succeeds', async () => {
    const props = { path: join(dir, 'a.txt'), content: 'one' };
    const a = await localFile.create(ctx, props, key);
    await writeFile(a.id, 'edited by hand');
    const drifted = await localFile.read(ctx, a.id, props);
    expect(drifted?.content).toBe('edited by hand');
    const b = await localFile.update!(ctx, a.id, { ...props, content: 'two' }, a);
    expect(b.content).toBe('two');
    expect(await readFile(a.id, 'utf8')).toBe('two');
    await localFile.delete(ctx, a.id, b);
    expect(await localFile.read(ctx, a.id, props)).toBeNull();
    await localFile.delete(ctx, a.id, b);
  });

  it('lookup adopts only a file with the same content', async () => {
    const props = { path: 'x.txt', content: 'same' };
    expect(await localFile.lookup(ctx, { idempotencyKey: 'k', props })).toBeNull();
    await writeFile(join(dir, 'x.txt'), 'other');
    expect(await localFile.lookup(ctx, { idempotencyKey: 'k', props })).toBeNull();
    await writeFile(join(dir, 'x.txt'), 'same');
    expect((await localFile.lookup(ctx, { idempotencyKey: 'k', props }))?.id).toBe(join(dir, 'x.txt'));
  });

  it('rejects unknown properties and bad modes', () => {
    expect(localFile.schema.safeParse({ path: 'a', content: 'b', colour: 'red' }).success).toBe(false);
    expect(localFile.schema.safeParse({ path: 'a', content: 'b', mode: '999' }).success).toBe(false);
    expect(localFile.replaceOn).toEqual(['path']);
  });

  it('fails with a ProviderError when the parent is a file', async () => {
    await writeFile(join(dir, 'blocker'), 'x');
    await expect(localFile.create(ctx, { path: 'blocker/f.txt', content: 'x' }, key)).rejects.toBeInstanceOf(
      ProviderError,
    );
  });
});

describe('local.directory', () => {
  it('creates, reads, refuses to delete a non-empty dir unless force_destroy', async () => {
    const props = { path: 'data/cache' };
    const a = await localDirectory.create(ctx, props, key);
    expect(a.id).toBe(join(dir, 'data/cache'));
    expect(await localDirectory.read(ctx, a.id, props)).toMatchObject({ path: a.id });
    expect(await localDirectory.lookup(ctx, { idempotencyKey: 'k', props })).toMatchObject({ id: a.id });
    await writeFile(join(a.id, 'keep.txt'), 'data');
    await expect(localDirectory.delete(ctx, a.id, a)).rejects.toMatchObject({ code: 'DIRECTORY_NOT_EMPTY' });
    await localDirectory.delete(ctx, a.id, { ...a, force_destroy: true });
    expect(await localDirectory.read(ctx, a.id, props)).toBeNull();
    await localDirectory.delete(ctx, a.id, a);
  });

  it('reads a file at the path as gone, and refuses to create over it', async () => {
    await mkdir(join(dir, 'p'));
    await writeFile(join(dir, 'p/f'), 'x');
    expect(await localDirectory.read(ctx, join(dir, 'p/f'), { path: 'p/f' })).toBeNull();
    await expect(localDirectory.create(ctx, { path: 'p/f' }, key)).rejects.toBeInstanceOf(ProviderError);
  });
});
