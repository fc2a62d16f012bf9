/**
 * @module scheduler/sql/control — cancel / kill / pause / resume of a task (SPEC.md §5 "Control").
 *
 *   cancel, kill: a queued or merely assigned task is cancelled at once (nothing of it has run, and its
 *                 token is refused from now on); a running one gets control = cancel | kill, which the
 *                 worker reads from its assignments; it ends (cancelled) when the worker stops naming it
 *                 in heartbeats, when it completes, or when its worker's lease is lost.
 *   pause:        control = pause (the worker stops the process; a queued task is not assigned).
 *   resume:       pause → run.
 */
import type { Queryable } from '../../store/types.ts';
import type { Control } from '../protocol.ts';
import { TASK_COLUMNS, type TaskRow } from './rows.ts';

export type ControlAction = 'cancel' | 'kill' | 'pause' | 'resume';

export type ControlResult =
  | { readonly kind: 'ok'; readonly task: TaskRow; readonly ended: boolean }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'ended'; readonly task: TaskRow }
  | { readonly kind: 'conflict'; readonly task: TaskRow; readonly message: string };

export async function controlTask(
  tx: Queryable,
  taskId: string,
  action: ControlAction,
): Promise<ControlResult> {
  const { rows } = await tx.query<TaskRow>(
    `SELECT ${TASK_COLUMNS('t')} FROM drover_tasks t WHERE t.id = $1 FOR UPDATE`,
    [taskId],
  );
  const task = rows[0];
  if (!task) return { kind: 'not-found' };
  if (task.status === 'succeeded' || task.status === 'failed' || task.status === 'cancelled')
    return { kind: 'ended', task };
  let control: Control;
  let endNow = false;
  switch (action) {
    case 'cancel':
    case 'kill':
      control = task.control === 'kill' ? 'kill' : action;
      endNow = task.status === 'queued' || task.status === 'assigned';
      break;
    case 'pause':
      if (task.control === 'cancel' || task.control === 'kill') {
        return { kind: 'conflict', task, message: `the task is being ${task.control}ed` };
      }
      control = 'pause';
      break;
    case 'resume':
      if (task.control === 'cancel' || task.control === 'kill') {
        return { kind: 'conflict', task, message: `the task is being ${task.control}ed` };
      }
      control = 'run';
      break;
    default: {
      const never: never = action;
      throw new Error(`unknown control ${String(never)}`);
    }
  }
  const { rows: upd } = await tx.query<TaskRow>(
    endNow
      ? `UPDATE drover_tasks t SET control = $2, status = 'cancelled', ended_at = now(),
                error = jsonb_build_object('code', 'TASK_CANCELLED', 'message', 'the task was ' || $2 || 'ed')
          WHERE t.id = $1 RETURNING ${TASK_COLUMNS('t')}`
      : `UPDATE drover_tasks t SET control = $2 WHERE t.id = $1 RETURNING ${TASK_COLUMNS('t')}`,
    [taskId, control],
  );
  return { kind: 'ok', task: upd[0]!, ended: endNow };
}
