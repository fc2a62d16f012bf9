-- 0004_task_kinds: the `noop` task kind. It runs no provisioner: the worker takes it up under its lease
-- and reports it succeeded through the fence, so the scheduler and the task lifecycle can be measured
-- (bench/scheduler.ts) and checked without a plan or apply in the way.
ALTER TABLE drover_tasks DROP CONSTRAINT drover_tasks_kind_check;
ALTER TABLE drover_tasks ADD CONSTRAINT drover_tasks_kind_check
  CHECK (kind IN ('plan', 'apply', 'destroy', 'noop'));
