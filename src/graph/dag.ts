/**
 * @module graph/dag — deterministic DAG utilities shared by resources (`depends_on` + references) and
 * targets (`after`): topological order, depth levels, reverse order for deletes and cycle paths.
 *
 * An edge `{ from: 'vm', to: 'net' }` reads "vm depends on net": `net` comes first in `topoOrder`, and a
 * cycle prints in the same direction as the config is written (`vm -> net -> vm`). Edges that name a
 * node outside `nodes` are ignored, so callers may pass a subset of nodes (e.g. the resources one target
 * selects) with the full edge list.
 */
import { DroverError } from '../errors.ts';

export interface Edge {
  /** The dependent node. */
  readonly from: string;
  /** The node it depends on (comes first). */
  readonly to: string;
}

/** A cycle as a closed path: the first node is repeated at the end (`['a', 'b', 'a']`). */
export type CyclePath = readonly string[];

interface Adjacency {
  readonly nodes: readonly string[]; // sorted, unique
  /** node → what it depends on (sorted, unique). */
  readonly deps: ReadonlyMap<string, readonly string[]>;
  /** node → what depends on it (sorted, unique). */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function adjacency(nodes: Iterable<string>, edges: Iterable<Edge>): Adjacency {
  const sorted = [...new Set(nodes)].sort(compare);
  const present = new Set(sorted);
  const deps = new Map<string, Set<string>>();
  const dependents = new Map<string, Set<string>>();
  for (const n of sorted) {
    deps.set(n, new Set());
    dependents.set(n, new Set());
  }
  for (const e of edges) {
    if (!present.has(e.from) || !present.has(e.to)) continue;
    deps.get(e.from)!.add(e.to);
    dependents.get(e.to)!.add(e.from);
  }
  const freeze = (m: Map<string, Set<string>>): Map<string, readonly string[]> =>
    new Map([...m].map(([k, v]) => [k, [...v].sort(compare)]));
  return { nodes: sorted, deps: freeze(deps), dependents: freeze(dependents) };
}

/**
 * Thrown by the ordering functions when the graph has a cycle; carries every cycle found. A cycle is a
 * config error (the loader reports it with locations first), hence CONFIG_INVALID.
 */
export class CycleError extends DroverError {
  readonly cycles: readonly CyclePath[];
  constructor(cycles: readonly CyclePath[]) {
    super('CONFIG_INVALID', `dependency cycle: ${cycles.map(formatCycle).join('; ')}`, {
      details: { cycles: cycles.map(formatCycle) },
    });
    this.cycles = cycles;
  }
}

/**
 * Dependencies first, ties broken alphabetically. Throws CycleError if the graph has a cycle
 * (the config loader reports cycles first, so a loaded config never does).
 */
export function topoOrder(nodes: Iterable<string>, edges: Iterable<Edge>): string[] {
  return fastOrder(nodes, edges, true);
}

/** Dependents first (the order deletes run in), ties broken alphabetically. Throws CycleError. */
export function reverseOrder(nodes: Iterable<string>, edges: Iterable<Edge>): string[] {
  return fastOrder(nodes, edges, false);
}

/**
 * Kahn's algorithm with a sorted ready set, so equal inputs always give the same order (ties broken
 * alphabetically). `forward` = dependencies first; otherwise dependents first. It works on integer
 * indices — nodes sorted once, edges as index lists, a min-heap of indices (the smallest index is the
 * alphabetically first name) — because a plan orders every resource of a flock, 10,000 of them, and
 * maps of sets cost several times as much. On a cycle it builds the full adjacency to report it.
 */
function fastOrder(nodes: Iterable<string>, edgesIn: Iterable<Edge>, forward: boolean): string[] {
  const edges = Array.isArray(edgesIn) ? (edgesIn as readonly Edge[]) : [...edgesIn];
  const sorted = [...new Set(nodes)].sort(compare);
  const at = new Map<string, number>();
  for (let i = 0; i < sorted.length; i++) at.set(sorted[i]!, i);
  const waiting = new Int32Array(sorted.length);
  const unblocks: number[][] = Array.from({ length: sorted.length }, () => []);
  // A repeated edge is counted and released as often as it appears, so it changes nothing.
  for (const e of edges) {
    const from = at.get(e.from);
    const to = at.get(e.to);
    if (from === undefined || to === undefined) continue;
    const [first, then] = forward ? [to, from] : [from, to];
    waiting[then]!++;
    unblocks[first]!.push(then);
  }
  const ready = new IndexHeap();
  for (let i = 0; i < sorted.length; i++) if (waiting[i] === 0) ready.push(i);
  const order: string[] = [];
  while (ready.size > 0) {
    const n = ready.pop();
    order.push(sorted[n]!);
    for (const m of unblocks[n]!) if (--waiting[m]! === 0) ready.push(m);
  }
  if (order.length < sorted.length) throw new CycleError(cyclesOf(adjacency(sorted, edges)));
  return order;
}

/** A binary min-heap of indices. */
class IndexHeap {
  readonly #a: number[] = [];
  get size(): number {
    return this.#a.length;
  }
  push(v: number): void {
    const a = this.#a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): number {
    const a = this.#a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Depth per node: 0 for a node with no dependencies, else 1 + the deepest of its dependencies. Nodes of
 * one level never depend on each other, so a level can run in parallel. Throws CycleError.
 */
export function levels(nodes: Iterable<string>, edges: Iterable<Edge>): Map<string, number> {
  const edgeList = [...edges];
  const order = fastOrder(nodes, edgeList, true);
  const adj = adjacency(order, edgeList);
  const depth = new Map<string, number>();
  for (const n of order) {
    let d = 0;
    for (const dep of adj.deps.get(n)!) d = Math.max(d, depth.get(dep)! + 1);
    depth.set(n, d);
  }
  return depth;
}

/**
 * One cycle per strongly connected component (a self-loop counts), each a closed path starting at the
 * component's alphabetically smallest node and following the shortest way back to it, so the report
 * is short and stable. Sorted by their first node. Empty when the graph is a DAG.
 */
export function findCycles(nodes: Iterable<string>, edges: Iterable<Edge>): CyclePath[] {
  return cyclesOf(adjacency(nodes, edges));
}

/** `['a', 'b', 'a']` → `a -> b -> a`. */
export function formatCycle(path: CyclePath): string {
  return path.join(' -> ');
}

function cyclesOf(adj: Adjacency): CyclePath[] {
  const cycles: CyclePath[] = [];
  for (const component of stronglyConnected(adj)) {
    const start = component[0]!; // components come sorted
    const members = new Set(component);
    if (component.length === 1 && !adj.deps.get(start)!.includes(start)) continue;
    cycles.push(shortestCycle(adj, start, members));
  }
  return cycles.sort((a, b) => compare(a[0]!, b[0]!));
}

/** BFS from `start` inside its component back to `start`; neighbours in alphabetical order. */
function shortestCycle(adj: Adjacency, start: string, members: ReadonlySet<string>): CyclePath {
  const parent = new Map<string, string>();
  const queue: string[] = [start];
  const seen = new Set<string>([start]);
  while (queue.length > 0) {
    const n = queue.shift()!;
    for (const m of adj.deps.get(n)!) {
      if (!members.has(m)) continue;
      if (m === start) {
        const path = [start];
        for (let at: string | undefined = n; at !== undefined && at !== start; at = parent.get(at))
          path.splice(1, 0, at);
        path.push(start);
        return path;
      }
      if (seen.has(m)) continue;
      seen.add(m);
      parent.set(m, n);
      queue.push(m);
    }
  }
  /* c8 ignore next */
  return [start, start];
}

/** Tarjan's algorithm, iterative (config graphs are user input: no recursion depth limits). */
function stronglyConnected(adj: Adjacency): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let next = 0;
  for (const root of adj.nodes) {
    if (index.has(root)) continue;
    const work: { node: string; i: number }[] = [{ node: root, i: 0 }];
    index.set(root, next);
    low.set(root, next);
    next++;
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const deps = adj.deps.get(frame.node)!;
      if (frame.i < deps.length) {
        const m = deps[frame.i++]!;
        if (!index.has(m)) {
          index.set(m, next);
          low.set(m, next);
          next++;
          stack.push(m);
          onStack.add(m);
          work.push({ node: m, i: 0 });
        } else if (onStack.has(m)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(m)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let m: string;
        do {
          m = stack.pop()!;
          onStack.delete(m);
          component.push(m);
        } while (m !== frame.node);
        out.push(component.sort(compare));
      }
    }
  }
  return out;
}
