/**
 * @module scheduler/sql/rows — row shapes the scheduler's SQL returns, and the column list that reads
 * them the same way on PGlite and on `pg` (times as epoch milliseconds, bigints as numbers).
 */
import type { Control, TaskKind, TaskSpec, TaskStatus, WorkerStatus } from '../protocol.ts';

export interface TaskRow {
  id: string;
  kind: TaskKind;
  flock: string;
  target: string;
  spec: TaskSpec;
  status: TaskStatus;
  control: Control;
  worker_id: string | null;
  token: number;
  attempts: number;
  result: unknown;
  error: unknown;
  created_by: string | null;
  created_at: number;
  assigned_at: number | null;
  started_at: number | null;
  ended_at: number | null;
}

export interface WorkerRow {
  id: string;
  name: string;
  host: string;
  pid: number;
  proxy_pid: number;
  capacity: number;
  ack_key: string;
  token_id: string | null;
  status: WorkerStatus;
  registered_at: number;
  last_heartbeat_at: number;
  last_seq: number;
  unhealthy_since: number | null;
  last_work_at: number;
}

/** `timestamptz` → epoch ms as a double (both drivers return a plain number). */
export const ms = (col: string): string => `(extract(epoch from ${col}) * 1000)::double precision`;

/** A `$n` parameter of milliseconds as an interval. */
export const interval = (param: string): string => `(${param}::double precision * interval '1 millisecond')`;

export const TASK_COLUMNS = (t = 't'): string =>
  [
    `${t}.id`,
    `${t}.kind`,
    `${t}.flock`,
    `${t}.target`,
    `${t}.spec`,
    `${t}.status`,
    `${t}.control`,
    `${t}.worker_id`,
    `${t}.token::double precision AS token`,
    `${t}.attempts`,
    `${t}.result`,
    `${t}.error`,
    `${t}.created_by`,
    `${ms(`${t}.created_at`)} AS created_at`,
    `${ms(`${t}.assigned_at`)} AS assigned_at`,
    `${ms(`${t}.started_at`)} AS started_at`,
    `${ms(`${t}.ended_at`)} AS ended_at`,
  ].join(', ');

export const WORKER_COLUMNS = (w = 'w'): string =>
  [
    `${w}.id`,
    `${w}.name`,
    `${w}.host`,
    `${w}.pid`,
    `${w}.proxy_pid`,
    `${w}.capacity`,
    `${w}.ack_key`,
    `${w}.token_id`,
    `${w}.status`,
    `${ms(`${w}.registered_at`)} AS registered_at`,
    `${ms(`${w}.last_heartbeat_at`)} AS last_heartbeat_at`,
    `${w}.last_seq::double precision AS last_seq`,
    `${ms(`${w}.unhealthy_since`)} AS unhealthy_since`,
    `${ms(`${w}.last_work_at`)} AS last_work_at`,
  ].join(', ');

/** Statuses in which a task holds a worker's capacity and a live token. */
export const ACTIVE = `('assigned', 'running')`;
