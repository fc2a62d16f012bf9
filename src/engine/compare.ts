/**
 * @module engine/compare — an approved plan against a fresh one (SPEC §3 "Approved plan vs fresh plan").
 *
 * Every operation of the fresh plan that changes something must have been approved: the same address and
 * action, and no property changed that the approved operation did not change. Fewer changes are fine
 * (someone else may have done part of the work); more are not.
 */
import { DroverError } from '../errors.ts';
import type { Plan } from './plan-types.ts';

export function comparePlans(approved: Plan, fresh: Plan): void {
  if (approved.flock !== fresh.flock || approved.target !== fresh.target) {
    throw new DroverError(
      'PLAN_DIVERGED',
      `the approved plan is for ${approved.flock}/${approved.target}, not ${fresh.flock}/${fresh.target}`,
      {
        details: {
          approved: `${approved.flock}/${approved.target}`,
          fresh: `${fresh.flock}/${fresh.target}`,
        },
      },
    );
  }
  const byAddress = new Map(approved.operations.map((o) => [o.address, o]));
  for (const op of fresh.operations) {
    if (op.action === 'no-op') continue;
    const ok = byAddress.get(op.address);
    if (!ok || ok.action !== op.action) {
      throw new DroverError(
        'PLAN_DIVERGED',
        `operation "${op.action} ${op.address}" (${op.type}) was not in the approved plan` +
          (ok ? ` (approved: ${ok.action} ${ok.address})` : ''),
        { details: { address: op.address, action: op.action, approved: ok?.action ?? null } },
      );
    }
    const approvedPaths = new Set(ok.changes.map((c) => c.path));
    const extra = op.changes.filter((c) => !approvedPaths.has(c.path));
    if (extra.length) {
      throw new DroverError(
        'PLAN_DIVERGED',
        `operation "${op.action} ${op.address}" changes ${extra.map((c) => c.path).join(', ')}, which the approved plan did not`,
        { details: { address: op.address, action: op.action, paths: extra.map((c) => c.path) } },
      );
    }
  }
}
