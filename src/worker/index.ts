/**
 * @module worker — the worker daemon (SPEC.md §5): its signing proxy, registration and heartbeats through
 * it, reconciliation of task processes with assignments, and the sandbox tasks run in.
 */
export { runWorkerCli } from './main.ts';
export type { WorkerOptions } from './worker.ts';
export { Worker } from './worker.ts';
export type { SandboxMode, SandboxProbe } from './sandbox.ts';
export { probeSandbox, taskEnvironment } from './sandbox.ts';
export { ProxyHttpClient } from './task-client.ts';
export { controlRequest, startProxyProcess } from './proxy-process.ts';
