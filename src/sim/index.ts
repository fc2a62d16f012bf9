/**
 * @module sim — the region simulator (`drover sim`, SPEC.md §4, docs/simulator.md): a cloud-like REST
 * API with SigV4 verification, fencing, idempotency, latency and fault injection, a journal and an inventory.
 */
export type { SimHandle } from './server.ts';
export { startSim } from './server.ts';
export type { OutageWindow, SimOptions } from './options.ts';
export type { Kind } from './kinds.ts';
export { KIND_BY_SEGMENT } from './kinds.ts';
export type { JournalEntry } from './journal.ts';
export type { InventoryItem, ResourceState } from './store.ts';
export type { Fault, FaultMode, FaultTarget } from './faults.ts';
export { runSimCli } from './main.ts';
