/**
 * @module engine/render — the readable diff of a plan, for people (Terraform-like symbols).
 */
import type { Action, Plan } from './plan-types.ts';

const SYMBOL: Record<Action, string> = {
  create: '+',
  update: '~',
  replace: '-/+',
  delete: '-',
  'no-op': ' ',
};
const COLOR: Record<Action, string> = {
  create: '32',
  update: '33',
  replace: '35',
  delete: '31',
  'no-op': '0',
};

function show(v: unknown): string {
  if (v === undefined) return '(none)';
  if (typeof v === 'string') return v === '(known after apply)' ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

export function renderPlan(plan: Plan, opts: { color?: boolean; showNoop?: boolean } = {}): string {
  const paint = (a: Action, s: string): string => (opts.color ? `\x1b[${COLOR[a]}m${s}\x1b[0m` : s);
  const lines: string[] = [];
  lines.push(
    `Plan for ${plan.flock} → ${plan.target}${plan.destroy ? ' (destroy)' : ''}, release ${plan.release_id}`,
  );
  const changing = plan.operations.filter((o) => o.action !== 'no-op');
  if (changing.length === 0) {
    lines.push(
      '',
      `No changes: ${plan.summary['no-op']} resource${plan.summary['no-op'] === 1 ? '' : 's'} up to date.`,
    );
    return lines.join('\n') + '\n';
  }
  lines.push('');
  for (const op of plan.operations) {
    if (op.action === 'no-op' && !opts.showNoop) continue;
    const head = `${SYMBOL[op.action].padStart(3)} ${op.address} (${op.type})${op.action === 'no-op' ? '' : ` ${op.action}`}`;
    lines.push(paint(op.action, head) + (op.reason ? `  # ${op.reason}` : ''));
    for (const c of op.changes) {
      const value =
        op.action === 'create'
          ? show(c.after)
          : op.action === 'delete'
            ? show(c.before)
            : `${show(c.before)} → ${show(c.after)}`;
      lines.push(`        ${c.path}: ${value}${c.forcesReplace ? '  # forces replacement' : ''}`);
    }
  }
  const s = plan.summary;
  lines.push(
    '',
    `${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s['no-op']} unchanged.`,
  );
  return lines.join('\n') + '\n';
}
