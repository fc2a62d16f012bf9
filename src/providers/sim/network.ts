/** @module providers/sim/network — `sim.network`: a virtual network with an IPv4 CIDR block. */
import { z } from 'zod';
import { cidr, simName } from './names.ts';
import { defineSimType } from './resource.ts';

export const simNetwork = defineSimType({
  type: 'sim.network',
  segment: 'networks',
  description: 'A virtual network (name unique per region) with an IPv4 CIDR block.',
  schema: z.strictObject({ name: simName, cidr }),
  replaceOn: ['name', 'cidr'],
});
