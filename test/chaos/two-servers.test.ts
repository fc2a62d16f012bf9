/**
 * Chaos (SPEC.md §5, §8): two `drover server` processes on one PostgreSQL database, workers reaching
 * them through a failover relay; one server is SIGKILLed mid-apply (and later started again). Both run
 * the scheduler's sweeps on the shared store; the survivor carries on alone. PostgreSQL only: PGlite is
 * one process per data directory.
 */
import { sleep } from '../helpers/cluster.ts';
import { chaosSuite, type Fault } from './harness.ts';

const killOne: Fault = async (c, _v, rng) => {
  const which = rng.int(0, 1);
  const down = rng.int(0, 3_000);
  await c.killServer(which);
  c.event(`server ${which} SIGKILLed; starting it again in ${down} ms`);
  await sleep(down);
  await c.startServerAgain(which);
  c.event(`server ${which} listening again`);
  return `kill-server-${which}`;
};

chaosSuite({
  label: 'pair',
  title: 'chaos: two servers on one PostgreSQL, one killed mid-apply',
  cluster: { server: 'pair' },
  fault: killOne,
  rounds: 6,
  skip: process.env['DATABASE_URL']
    ? false
    : 'two servers share one PostgreSQL; PGlite is one process per data directory (set DATABASE_URL)',
});
