/**
 * Chaos (SPEC.md §5): the connection between a worker host and the scheduler is cut mid-apply (a TCP
 * relay stops forwarding, closing nothing), then heals — delivering what waited late, or resetting the
 * connections. The worker's calls to the simulator are not cut: only its lease can stop them.
 */
import { chaosSuite, hold, type Fault } from './harness.ts';

const partition: Fault = async (c, v, rng, ctx) => {
  const relay = v.workerName ? c.relays.get(v.workerName) : undefined;
  if (!relay) return 'no-victim';
  const mode = rng.pick(['short', 'long'] as const);
  const reset = rng.next() < 0.5;
  relay.cut();
  try {
    await hold(mode, v, rng, ctx, c.timing);
  } finally {
    relay.heal({ reset });
  }
  return `partition-${mode}-${reset ? 'reset' : 'late'}`;
};

chaosSuite({
  label: 'cut',
  title: 'chaos: a cut connection between a worker and the scheduler',
  cluster: { server: 'process' },
  fault: partition,
  rounds: 11,
});
