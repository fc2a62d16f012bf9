-- 0002_scheduler: bearer tokens, workers, tasks, task logs and the audit log (SPEC.md §5, §8).
-- Lease times are recorded on the database clock so that several server processes agree on them.

CREATE TABLE drover_tokens (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'approver', 'admin', 'worker')),
  token_hash  text NOT NULL UNIQUE,           -- hex sha256 of the token; the token itself is never stored
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

CREATE TABLE drover_workers (
  id                 text PRIMARY KEY,
  name               text NOT NULL,
  host               text NOT NULL,
  pid                integer NOT NULL,
  proxy_pid          integer NOT NULL,
  capacity           integer NOT NULL DEFAULT 1 CHECK (capacity >= 1),
  ack_key            text NOT NULL,           -- hex; signs lease acknowledgements of this registration
  token_id           text,                    -- the bearer token that registered it
  status             text NOT NULL DEFAULT 'healthy' CHECK (status IN ('healthy', 'unhealthy', 'gone')),
  registered_at      timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at  timestamptz NOT NULL DEFAULT now(),  -- receipt of the last heartbeat: the lease starts here
  last_seq           bigint NOT NULL DEFAULT 0,
  unhealthy_since    timestamptz,
  last_work_at       timestamptz NOT NULL DEFAULT now()   -- last time a task arrived or left: "idle longest" ties
);
CREATE INDEX drover_workers_status_idx ON drover_workers (status);

CREATE TABLE drover_tasks (
  id           text PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('plan', 'apply', 'destroy')),
  flock        text NOT NULL,
  target       text NOT NULL,
  spec         jsonb NOT NULL,
  status       text NOT NULL DEFAULT 'queued'
               CHECK (status IN ('queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled')),
  control      text NOT NULL DEFAULT 'run' CHECK (control IN ('run', 'pause', 'cancel', 'kill')),
  worker_id    text REFERENCES drover_workers (id),
  token        bigint NOT NULL DEFAULT 0,   -- + 1 on every (re)assignment; the fence
  attempts     integer NOT NULL DEFAULT 0,  -- assignments so far
  result       jsonb,
  error        jsonb,
  created_by   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  assigned_at  timestamptz,
  started_at   timestamptz,
  ended_at     timestamptz,
  CHECK ((status IN ('assigned', 'running')) = (worker_id IS NOT NULL) OR status IN ('succeeded', 'failed', 'cancelled'))
);
CREATE INDEX drover_tasks_queued_idx ON drover_tasks (created_at) WHERE status = 'queued';
CREATE INDEX drover_tasks_worker_idx ON drover_tasks (worker_id) WHERE status IN ('assigned', 'running');

CREATE TABLE drover_task_events (
  seq      bigserial PRIMARY KEY,
  task_id  text NOT NULL REFERENCES drover_tasks (id),
  token    bigint,
  at       timestamptz NOT NULL DEFAULT now(),
  event    jsonb NOT NULL
);
CREATE INDEX drover_task_events_task_idx ON drover_task_events (task_id, seq);

CREATE TABLE drover_audit (
  id       bigserial PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  actor    text,                             -- token name (and id), or 'system'
  action   text NOT NULL,                    -- e.g. task.submit, task.cancel, token.create
  object   text,
  details  jsonb
);
