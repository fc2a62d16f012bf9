/**
 * @module providers/drover/approval — `drover.approval`: a person says yes, or the rollout stops here.
 */
import { z } from 'zod';
import { ProviderError } from '../types.ts';
import { defineTask } from './task.ts';

const schema = z.strictObject({ message: z.string().optional() });

export const droverApproval = defineTask({
  type: 'drover.approval',
  description: 'Asks a person to approve before the rollout goes on; a refusal (or no terminal) fails it.',
  schema,
  async run(ctx, props) {
    const question =
      props.message ?? `Approve release ${ctx.releaseId} of ${ctx.flock} on target ${ctx.target.name}?`;
    const approved = await ctx.confirm(question);
    if (!approved) throw new ProviderError(`not approved: ${question}`, undefined, 'APPROVAL_DENIED');
    return { approved: true };
  },
});
