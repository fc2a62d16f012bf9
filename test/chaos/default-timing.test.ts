/**
 * Chaos (SPEC.md §5) with the DEFAULT lease timing (heartbeat 2 s, lease_ttl 10 s, lease_grace 5 s,
 * margin 1 s): one round in which the worker's whole process tree is frozen mid-apply until its task has
 * moved to another worker, then thawed. The randomized rounds use shortened timing; this one checks the
 * shipped values keep the same guarantee.
 */
import { expect } from 'vitest';
import { DEFAULT_TIMING } from '../../src/scheduler/timing.ts';
import { sleep } from '../helpers/cluster.ts';
import { chaosSuite, signalGroups, workerGroups, type Fault } from './harness.ts';

const freezeUntilMoved: Fault = async (c, v, rng, ctx) => {
  const w = v.worker;
  if (!w) return 'no-victim';
  const groups = workerGroups(w);
  signalGroups(groups, 'SIGSTOP');
  c.event(`SIGSTOP the process groups of ${w.name}: ${groups.join(', ')}`);
  try {
    await ctx.movedOn(v.token, 120_000);
    await sleep(rng.int(0, 2_000));
  } finally {
    signalGroups([...groups].reverse(), 'SIGCONT');
    c.event(`SIGCONT ${w.name}`);
  }
  return 'sigstop-tree-default-timing';
};

chaosSuite({
  label: 'dflt',
  title: 'chaos: default lease timing (10 s / 5 s / 2 s), a frozen worker host',
  // The defaults, spelled out so an environment override cannot shorten them.
  cluster: { server: 'process', timing: { ...DEFAULT_TIMING } },
  fault: freezeUntilMoved,
  rounds: 1,
  extra: (results) => {
    for (const r of results) if (r.note !== 'no-victim') expect(r.finalToken, r.label).toBeGreaterThan(1);
  },
});
