import { describe, expect, it } from 'vitest';
import { Lanes, mapLimit } from './pool.ts';

const tick = (ms = 1): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Lanes', () => {
  it('runs items pushed over time, never more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    const lanes = new Lanes<number>(3, async (n) => {
      running++;
      most = Math.max(most, running);
      await tick();
      seen.push(n);
      running--;
    });
    lanes.push([1, 2, 3, 4, 5]);
    await tick(5);
    lanes.push([6, 7]);
    lanes.push([]);
    lanes.push([8]);
    await lanes.finish();
    expect(seen.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(most).toBe(3);
  });

  it('rejects with the first error once the calls in flight settled, and starts nothing after it', async () => {
    const started: number[] = [];
    let settled = 0;
    const lanes = new Lanes<number>(2, async (n) => {
      started.push(n);
      await tick(n === 1 ? 1 : 10);
      settled++;
      if (n === 1) throw new Error('first');
      if (n === 2) throw new Error('second');
    });
    lanes.push([1, 2, 3, 4]);
    await expect(lanes.finish()).rejects.toThrow('first');
    // 1 failed while 2 was in flight; neither lane starts another item after the error, and finish()
    // waited for 2 to settle.
    expect(started).toEqual([1, 2]);
    expect(settled).toBe(2);
  });

  it('halt: starts nothing more, waits for what runs, and rejects with the reason', async () => {
    const started: number[] = [];
    let settled = 0;
    const lanes = new Lanes<number>(1, async (n) => {
      started.push(n);
      await tick(5);
      settled++;
    });
    lanes.push([1, 2, 3]);
    lanes.halt(new Error('load failed'));
    await expect(lanes.finish()).rejects.toThrow('load failed');
    expect(started).toEqual([1]);
    expect(settled).toBe(1);
  });

  it('finishes at once with nothing pushed', async () => {
    await new Lanes<number>(4, () => Promise.reject(new Error('never'))).finish();
  });
});

describe('mapLimit', () => {
  it('runs every item and passes the first error on', async () => {
    const out: string[] = [];
    await mapLimit(['a', 'b', 'c'], 2, async (s) => void out.push(s));
    expect(out.sort()).toEqual(['a', 'b', 'c']);
    await expect(
      mapLimit([1, 2], 2, (n) => (n === 2 ? Promise.reject(new Error('two')) : Promise.resolve())),
    ).rejects.toThrow('two');
  });
});
