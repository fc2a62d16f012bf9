/**
 * Chaos (SPEC.md §5): SIGSTOP / SIGCONT of the worker's whole process tree (worker, proxy and task
 * process groups) mid-apply, as a frozen host. After the thaw nothing of the old lease may reach the
 * simulator: the proxy fails closed, and what slipped out is refused by the simulator's fence.
 */
import { chaosSuite, hold, signalGroups, workerGroups, type Fault } from './harness.ts';

const stopGroup: Fault = async (c, v, rng, ctx) => {
  const w = v.worker;
  if (!w) return 'no-victim';
  const mode = rng.pick(['short', 'long'] as const);
  const groups = workerGroups(w);
  signalGroups(groups, 'SIGSTOP');
  try {
    await hold(mode, v, rng, ctx, c.timing);
  } finally {
    signalGroups([...groups].reverse(), 'SIGCONT');
  }
  return `sigstop-tree-${mode}`;
};

chaosSuite({
  label: 'stopg',
  title: 'chaos: SIGSTOP / SIGCONT of the worker process group (worker, proxy, task)',
  cluster: { server: 'process' },
  fault: stopGroup,
  rounds: 11,
});
