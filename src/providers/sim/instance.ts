/**
 * @module providers/sim/instance — `sim.instance`: a compute instance in a network; it serves a
 * `health_url` and runs what `drover.deployment` puts on it.
 */
import { z } from 'zod';
import { simName } from './names.ts';
import { defineSimType } from './resource.ts';

export const simInstance = defineSimType({
  type: 'sim.instance',
  segment: 'instances',
  description:
    'A compute instance in a network (shape small, medium or large); attributes include health_url.',
  schema: z.strictObject({
    name: simName.optional(),
    network: z.string().min(1),
    shape: z.enum(['small', 'medium', 'large']),
  }),
  replaceOn: ['name', 'network'],
  // An instance is often left unnamed (SPEC §2's example); the key makes the name stable per create intent.
  defaultName: (ctx, key) => `${ctx.flock}-${ctx.target.name}-${key.replace(/-/g, '').slice(0, 12)}`,
});
