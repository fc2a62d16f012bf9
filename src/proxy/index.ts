/**
 * @module proxy — the signing proxy (SPEC.md §5): the only way out of a task's sandbox. It signs calls with
 * credentials only it holds, adds `Drover-Fence`, and lets nothing out once the worker's lease is not valid
 * on its own monotonic clock. Runs as its own process (main.ts); the worker starts it.
 */
export type { AckOutcome, ClockReading, Decision, LeaseParams, Refusal } from './lease-check.ts';
export { LeaseCheck, defaultJumpThreshold, realClock } from './lease-check.ts';
export type { ProxyOptions, TaskEndpointInfo, TaskTransport } from './proxy-server.ts';
export { PROXY_ERROR_HEADER, SigningProxy } from './proxy-server.ts';
export type { ProxyBootConfig } from './main.ts';
