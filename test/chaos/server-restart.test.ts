/**
 * Chaos (SPEC.md §5): the scheduler restarts mid-apply — `drover server` is SIGKILLed and started again on
 * the same port and store (the PGlite data directory, or the same PostgreSQL database). A restarted
 * scheduler treats every lease as freshly renewed; proxies fail closed while it is away; the task ends
 * exactly once.
 */
import { sleep } from '../helpers/cluster.ts';
import { chaosSuite, type Fault } from './harness.ts';

const restart: Fault = async (c, _v, rng) => {
  const down = rng.int(0, 2_500);
  await c.killServer(0);
  c.event(`server SIGKILLed; starting it again in ${down} ms`);
  await sleep(down);
  await c.startServerAgain(0);
  c.event('server listening again');
  return `server-restart-${down < 1_000 ? 'quick' : 'slow'}`;
};

chaosSuite({
  label: 'restart',
  title: 'chaos: the server (scheduler) is killed and restarted mid-apply',
  cluster: { server: 'process' },
  fault: restart,
  rounds: 6,
});
