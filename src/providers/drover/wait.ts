/**
 * @module providers/drover/wait — `drover.wait`: pauses the rollout (a bake time), abortable.
 */
import { z } from 'zod';
import { durationSchema, parseDuration, sleep } from './duration.ts';
import { defineTask } from './task.ts';

const schema = z.strictObject({ duration: durationSchema });

export const droverWait = defineTask({
  type: 'drover.wait',
  description: 'Waits for a duration (e.g. a bake time between deploy and the next step).',
  schema,
  async run(ctx, props) {
    await sleep(parseDuration(props.duration), ctx.signal);
    return {};
  },
});
