/**
 * Chaos (SPEC.md §5): SIGKILL mid-apply — either the whole worker host (worker, proxy and task process
 * groups at once) or the worker process alone (its proxy and task must then die of their lifelines).
 * The task finishes on another worker; see harness.ts for what every round checks.
 */
import { expect } from 'vitest';
import { isAlive, processTree, until } from '../helpers/cluster.ts';
import { chaosSuite, signalGroups, workerGroups, type Fault } from './harness.ts';

const sigkill: Fault = async (c, v, rng) => {
  const w = v.worker;
  if (!w) return 'no-victim';
  const mode = rng.pick(['host', 'worker-only'] as const);
  const tree = processTree(w.pid).map((p) => p.pid);
  if (mode === 'host') signalGroups(workerGroups(w), 'SIGKILL');
  else process.kill(w.pid, 'SIGKILL');
  await w.exited;
  // A crashed host's processes are all gone; a crashed worker's proxy and tasks follow it (lifelines).
  await until(
    `the processes of ${w.name} to die with it`,
    () => tree.every((pid) => !isAlive(pid)),
    30_000,
    50,
  );
  c.workers.delete(w.name);
  // The host comes back as a new worker, while the task waits out the quarantine or runs elsewhere.
  void c.addWorker();
  return `sigkill-${mode}`;
};

chaosSuite({
  label: 'kill',
  title: 'chaos: SIGKILL of a worker mid-apply',
  cluster: { server: 'process' },
  fault: sigkill,
  rounds: 11,
  extra: (results) => {
    // Every killed worker's task was carried on under a new token.
    for (const r of results) if (r.note !== 'no-victim') expect(r.finalToken, r.label).toBeGreaterThan(1);
  },
});
