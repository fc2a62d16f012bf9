import { describe, expect, it } from 'vitest';
import { groupCommit } from './group-commit.ts';

/** A fake statement: records each group it was given, answers after a tick. */
function recorder(fail: (items: readonly number[]) => boolean = () => false) {
  const groups: number[][] = [];
  const run = async (items: readonly number[]): Promise<number[]> => {
    groups.push([...items]);
    await new Promise((r) => setTimeout(r, 5));
    if (fail(items)) throw new Error(`bad group ${items.join(',')}`);
    return items.map((i) => i * 10);
  };
  return { groups, run };
}

describe('groupCommit', () => {
  it('sends the first write at once and the writes that arrive meanwhile as one group, answering each its own result', async () => {
    const { groups, run } = recorder();
    const write = groupCommit(run, 64);
    const out = await Promise.all([1, 2, 3, 4, 5].map((i) => write(i)));
    expect(out).toEqual([10, 20, 30, 40, 50]);
    expect(groups).toEqual([[1], [2, 3, 4, 5]]);
    // A lone write later goes alone, at once.
    expect(await write(6)).toBe(60);
    expect(groups.at(-1)).toEqual([6]);
  });

  it('bounds a group at max writes', async () => {
    const { groups, run } = recorder();
    const write = groupCommit(run, 2);
    await Promise.all([1, 2, 3, 4, 5, 6].map((i) => write(i)));
    expect(groups).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it('retries a failed group one write at a time, so only the bad write fails', async () => {
    const { groups, run } = recorder((items) => items.includes(3));
    const write = groupCommit(run, 64);
    const settled = await Promise.allSettled([1, 2, 3, 4].map((i) => write(i)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([
      10,
      20,
      'bad group 3',
      40,
    ]);
    expect(groups).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });

  it('tells nobody "written" when a group answers the wrong number of results (and writes nothing again)', async () => {
    const groups: number[][] = [];
    const write = groupCommit(async (items: readonly number[]) => {
      groups.push([...items]);
      await new Promise((r) => setTimeout(r, 5));
      return items.length > 1 ? [1] : [items[0]!];
    }, 64);
    const settled = await Promise.allSettled([1, 2, 3].map((i) => write(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(groups).toEqual([[1], [2, 3]]);
  });
});
