/**
 * @module providers/sim/user — `sim.user`: a user whose name is unique per region. The type that proves
 * adoption: a user an earlier crashed create made is adopted by name, never left blocking progress.
 */
import { z } from 'zod';
import { simName } from './names.ts';
import { defineSimType } from './resource.ts';

export const simUser = defineSimType({
  type: 'sim.user',
  segment: 'users',
  description: 'A user (name unique per region).',
  schema: z.strictObject({ name: simName }),
  replaceOn: ['name'],
});
