/** @module providers/sim/load-balancer — `sim.load_balancer`: spreads traffic over backends (instance ids). */
import { z } from 'zod';
import { simName } from './names.ts';
import { defineSimType } from './resource.ts';

export const simLoadBalancer = defineSimType({
  type: 'sim.load_balancer',
  segment: 'load_balancers',
  description: 'A load balancer over a list of backends (instance ids); backends change in place.',
  schema: z.strictObject({ name: simName, backends: z.array(z.string().min(1)).max(1000) }),
  replaceOn: ['name'],
});
