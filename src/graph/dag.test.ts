import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CycleError, findCycles, formatCycle, levels, reverseOrder, topoOrder } from './index.ts';
import type { Edge } from './index.ts';

const e = (from: string, to: string): Edge => ({ from, to });

describe('topoOrder', () => {
  it('puts dependencies first and breaks ties alphabetically', () => {
    const nodes = ['vm', 'net', 'logs', 'deploy', 'bake'];
    const edges = [e('vm', 'net'), e('vm', 'logs'), e('deploy', 'vm'), e('bake', 'deploy')];
    expect(topoOrder(nodes, edges)).toEqual(['logs', 'net', 'vm', 'deploy', 'bake']);
  });

  it('is independent of input order', () => {
    const edges = [e('c', 'a'), e('b', 'a'), e('d', 'b')];
    expect(topoOrder(['d', 'c', 'b', 'a'], edges)).toEqual(
      topoOrder(['a', 'b', 'c', 'd'], [...edges].reverse()),
    );
    expect(topoOrder(['d', 'c', 'b', 'a'], edges)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('ignores edges to nodes outside the set', () => {
    expect(topoOrder(['a', 'b'], [e('a', 'zz'), e('b', 'a')])).toEqual(['a', 'b']);
  });

  it('throws a CycleError naming the cycle path', () => {
    let err: unknown;
    try {
      topoOrder(['a', 'b', 'c'], [e('a', 'b'), e('b', 'c'), e('c', 'a')]);
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(CycleError);
    expect((err as CycleError).code).toBe('CONFIG_INVALID');
    expect((err as CycleError).message).toBe('dependency cycle: a -> b -> c -> a');
  });

  it('always respects every edge (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }))),
        (pairs) => {
          // only edges from higher to lower numbers: always acyclic
          const edges = pairs.filter(([a, b]) => a > b).map(([a, b]) => e(`n${a}`, `n${b}`));
          const nodes = Array.from({ length: 13 }, (_, i) => `n${i}`);
          const order = topoOrder(nodes, edges);
          expect(new Set(order).size).toBe(13);
          for (const edge of edges) expect(order.indexOf(edge.to)).toBeLessThan(order.indexOf(edge.from));
          const rev = reverseOrder(nodes, edges);
          for (const edge of edges) expect(rev.indexOf(edge.from)).toBeLessThan(rev.indexOf(edge.to));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('topoOrder and reverseOrder against a reference', () => {
  /** The smallest ready node first, found the slow way: the order both must give. */
  function reference(nodes: string[], edges: Edge[], forward: boolean): string[] {
    const left = new Set(nodes);
    const out: string[] = [];
    while (left.size > 0) {
      const ready = [...left]
        .filter((n) =>
          edges.every((x) => (forward ? x.from !== n || !left.has(x.to) : x.to !== n || !left.has(x.from))),
        )
        .sort();
      if (ready.length === 0) throw new Error('cycle');
      out.push(ready[0]!);
      left.delete(ready[0]!);
    }
    return out;
  }

  it('gives the same order on random DAGs with repeated edges (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })), { maxLength: 30 }),
        (pairs) => {
          const edges = pairs.filter(([a, b]) => a > b).map(([a, b]) => e(`n${a}`, `n${b}`));
          const nodes = Array.from({ length: 10 }, (_, i) => `n${(i * 7) % 10}`);
          expect(topoOrder(nodes, edges)).toEqual(reference(nodes, edges, true));
          expect(reverseOrder(nodes, edges)).toEqual(reference(nodes, edges, false));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports a self-loop as a cycle', () => {
    expect(() => topoOrder(['a', 'b'], [e('b', 'b')])).toThrow('dependency cycle: b -> b');
    expect(() => reverseOrder(['a', 'b'], [e('b', 'b')])).toThrow('dependency cycle: b -> b');
  });
});

describe('reverseOrder', () => {
  it('puts dependents first (delete order), ties alphabetical', () => {
    const edges = [e('vm', 'net'), e('vm', 'logs'), e('deploy', 'vm')];
    expect(reverseOrder(['net', 'logs', 'vm', 'deploy', 'alone'], edges)).toEqual([
      'alone',
      'deploy',
      'vm',
      'logs',
      'net',
    ]);
  });
});

describe('levels', () => {
  it('gives each node its depth', () => {
    const edges = [e('vm', 'net'), e('vm', 'logs'), e('deploy', 'vm'), e('bake', 'deploy'), e('bake', 'net')];
    expect(Object.fromEntries(levels(['vm', 'net', 'logs', 'deploy', 'bake'], edges))).toEqual({
      net: 0,
      logs: 0,
      vm: 1,
      deploy: 2,
      bake: 3,
    });
  });
});

describe('findCycles', () => {
  it('returns nothing for a DAG', () => {
    expect(findCycles(['a', 'b'], [e('a', 'b')])).toEqual([]);
  });

  it('returns the full path of each cycle, starting at its smallest node', () => {
    const cycles = findCycles(
      ['x', 'a', 'b', 'c', 'p', 'q', 's', 'free'],
      [e('b', 'c'), e('c', 'a'), e('a', 'b'), e('q', 'p'), e('p', 'q'), e('s', 's'), e('free', 'a')],
    );
    expect(cycles.map(formatCycle)).toEqual(['a -> b -> c -> a', 'p -> q -> p', 's -> s']);
  });

  it('picks the shortest way back inside a component', () => {
    const cycles = findCycles(
      ['a', 'b', 'c', 'd'],
      [e('a', 'b'), e('b', 'c'), e('c', 'd'), e('d', 'a'), e('b', 'a')],
    );
    expect(cycles.map(formatCycle)).toEqual(['a -> b -> a']);
  });

  it('handles long chains without recursion limits', () => {
    const n = 20000;
    const nodes = Array.from({ length: n }, (_, i) => `n${String(i).padStart(5, '0')}`);
    const edges = nodes.map((x, i) => e(x, nodes[(i + 1) % n]!));
    const [cycle] = findCycles(nodes, edges);
    expect(cycle).toHaveLength(n + 1);
    expect(cycle![0]).toBe('n00000');
    expect(cycle![n]).toBe('n00000');
  });
});
