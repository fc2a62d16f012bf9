/** @module providers/sim/bucket — `sim.bucket`: an object storage bucket. */
import { z } from 'zod';
import { simName } from './names.ts';
import { defineSimType } from './resource.ts';

export const simBucket = defineSimType({
  type: 'sim.bucket',
  segment: 'buckets',
  description: 'An object storage bucket (name unique per region).',
  schema: z.strictObject({ name: simName }),
  replaceOn: ['name'],
});
