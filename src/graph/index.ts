/**
 * @module graph — dependency graphs for resources and targets: topological order, levels, reverse
 * order for deletes, and cycles as full paths (`a -> b -> c -> a`).
 */
export { CycleError, findCycles, formatCycle, levels, reverseOrder, topoOrder } from './dag.ts';
export type { CyclePath, Edge } from './dag.ts';
