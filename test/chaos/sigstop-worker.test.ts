/**
 * Chaos (SPEC.md §5): SIGSTOP / SIGCONT of the worker process alone, mid-apply. Its proxy and its task
 * keep running: the proxy must stop the task's calls once the lease (no more heartbeats) is not valid,
 * and the thawed worker must stop a task that is no longer its own.
 */
import { expect } from 'vitest';
import { chaosSuite, hold, type Fault } from './harness.ts';

const stopWorker: Fault = async (c, v, rng, ctx) => {
  const w = v.worker;
  if (!w) return 'no-victim';
  const mode = rng.pick(['short', 'long'] as const);
  process.kill(w.pid, 'SIGSTOP');
  c.event(`SIGSTOP ${w.name} (pid ${w.pid}), ${mode}`);
  try {
    await hold(mode, v, rng, ctx, c.timing);
  } finally {
    process.kill(w.pid, 'SIGCONT');
    c.event(`SIGCONT ${w.name}`);
  }
  return `sigstop-worker-${mode}`;
};

chaosSuite({
  label: 'stopw',
  title: 'chaos: SIGSTOP / SIGCONT of the worker process (its proxy runs on)',
  cluster: { server: 'process' },
  fault: stopWorker,
  rounds: 11,
  extra: (results) => {
    // The proxy did refuse a paused worker's task at least once (the fault is not a no-op).
    expect(results.some((r) => r.proxyRefused)).toBe(true);
  },
});
