/**
 * @module scheduler — the regional scheduler (SPEC.md §5): leases, assignment, expiry and reassignment,
 * control, fences; the wire protocol shared with the proxy and the worker; the HTTP state backend.
 */
export * from './protocol.ts';
export { DEFAULT_TIMING, resolveTiming, TIMING_ENV, type Timing } from './timing.ts';
export { flockNameOf, Scheduler, toAssignment, type Caller, type SchedulerOptions } from './scheduler.ts';
export { errorFromResponse, HttpStateBackend, type HttpStateBackendOptions } from './http-state-backend.ts';
export type { ControlAction } from './sql/control.ts';
export type { TaskRow, WorkerRow } from './sql/rows.ts';
