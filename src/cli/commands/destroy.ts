/**
 * @module cli/commands/destroy — `drover destroy DIR --target NAME [--yes]`: plan deletes for every resource
 * in the target's state (in reverse dependency order), show them, ask, and apply.
 */
import type { CliIo } from '../io.ts';
import { applyFlow, type ApplyOptions } from './apply.ts';

export type DestroyOptions = Omit<ApplyOptions, 'plan'>;

export async function runDestroy(o: DestroyOptions, io: CliIo): Promise<number> {
  return applyFlow(o, io, true);
}
