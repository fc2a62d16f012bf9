-- 0006_scheduler_one_statement: a task's completion and a heartbeat, each ONE statement with its audit
-- row, instead of a transaction of several round trips (BEGIN + statements, the audit insert, COMMIT).
--
-- Why: on the embedded store every message to the database thread costs its fixed share, and a
-- transaction keeps the thread's one session to itself from its first statement to its COMMIT,
-- including every trip of an answer back to a busy event loop and of the next statement back to the
-- thread. With eight workers, completions and heartbeats were ~6 of the ~14 messages each task cost.
-- A single statement is its own transaction, so "the change and its audit row commit together" holds
-- exactly as before. The logic and the lock order are those of the TypeScript they replace
-- (scheduler.ts `fenced` + `complete`, sql/fence.ts, sql/complete.ts; sql/renew.ts).

-- Completion of a task through its fence: lock the task row (FOR UPDATE), check that the fence's token
-- is the task's current one and the task is assigned or running, that the caller's token registered
-- the task's worker (p_caller_token_id NULL: an admin, not checked), and that the worker's lease is
-- valid now; then end the task (a failure after cancel/kill was asked for is the cancellation taking
-- effect) and, with p_audit, record `task.complete` in the same transaction.
-- Then the worker's last_work_at (the "idle longest" tie-break) is touched, but only if its row is free
-- (SKIP LOCKED): waiting for the worker row while holding the task row would invert the lock order of
-- reassignment (worker, then its tasks) and could deadlock with it. When the row is busy, `touched` is
-- false and the caller touches it in a statement of its own after this commits (touchWorker).
-- Returns {"kind":"ok","status","worker_id","touched"} | {"kind":"not-found"} |
--   {"kind":"stale"|"not-yours"|"lease-expired","current","status"} | {"kind":"ended"}.
CREATE FUNCTION drover_complete_task(
  p_task text, p_token bigint, p_caller_token_id text, p_lease_ttl_ms double precision,
  p_status text, p_result jsonb, p_error jsonb, p_actor text, p_audit boolean
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_token bigint;
  v_status text;
  v_control text;
  v_worker text;
  v_worker_token text;
  v_lease_valid boolean;
  v_final text;
  v_touched boolean := false;
BEGIN
  SELECT t.token, t.status, t.control, t.worker_id, w.token_id,
         coalesce(w.status = 'healthy'
                  AND w.last_heartbeat_at > now() - p_lease_ttl_ms * interval '1 millisecond', false)
    INTO v_token, v_status, v_control, v_worker, v_worker_token, v_lease_valid
    FROM drover_tasks t LEFT JOIN drover_workers w ON w.id = t.worker_id
   WHERE t.id = p_task
   FOR UPDATE OF t;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('kind', 'not-found');
  END IF;
  IF v_token <> p_token OR v_status NOT IN ('assigned', 'running') THEN
    RETURN jsonb_build_object('kind', 'stale', 'current', v_token, 'status', v_status);
  END IF;
  IF p_caller_token_id IS NOT NULL AND v_worker_token IS DISTINCT FROM p_caller_token_id THEN
    RETURN jsonb_build_object('kind', 'not-yours', 'current', v_token, 'status', v_status);
  END IF;
  IF NOT v_lease_valid THEN
    RETURN jsonb_build_object('kind', 'lease-expired', 'current', v_token, 'status', v_status);
  END IF;
  v_final := CASE WHEN p_status = 'failed' AND v_control IN ('cancel', 'kill') THEN 'cancelled' ELSE p_status END;
  UPDATE drover_tasks SET status = v_final, result = p_result, error = p_error, ended_at = now()
   WHERE id = p_task AND status IN ('assigned', 'running');
  IF NOT FOUND THEN
    RETURN jsonb_build_object('kind', 'ended');
  END IF;
  IF p_audit THEN
    INSERT INTO drover_audit (actor, action, object, details)
    VALUES (p_actor, 'task.complete', p_task, jsonb_build_object('status', v_final, 'token', v_token));
  END IF;
  IF v_worker IS NOT NULL THEN
    UPDATE drover_workers SET last_work_at = now()
     WHERE id = (SELECT w.id FROM drover_workers w WHERE w.id = v_worker FOR UPDATE SKIP LOCKED);
    v_touched := FOUND;
  END IF;
  RETURN jsonb_build_object('kind', 'ok', 'status', v_final, 'worker_id', v_worker, 'touched', v_touched);
END
$$;

-- The heartbeat of 0005, now also recording (with p_audit) the `task.cancelled` audit row of each task
-- it ends, so it needs no transaction around it.
DROP FUNCTION drover_renew_lease(text, bigint, text[], text);
CREATE FUNCTION drover_renew_lease(p_worker text, p_seq bigint, p_tasks text[], p_token_id text,
                                   p_audit boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_status text;
  v_token_id text;
  v_now timestamptz;
  v_ack_key text;
  v_capacity integer;
  v_ended jsonb;
  v_tasks jsonb;
BEGIN
  SELECT w.status, w.token_id INTO v_status, v_token_id FROM drover_workers w WHERE w.id = p_worker FOR UPDATE;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('status', 'unknown');
  END IF;
  IF p_token_id IS NOT NULL AND v_token_id IS DISTINCT FROM p_token_id THEN
    RETURN jsonb_build_object('status', 'forbidden');
  END IF;
  IF v_status = 'gone' THEN
    RETURN jsonb_build_object('status', 'gone');
  END IF;
  v_now := clock_timestamp();
  UPDATE drover_workers w
     SET last_heartbeat_at = v_now, last_seq = greatest(w.last_seq, p_seq),
         status = 'healthy', unhealthy_since = NULL
   WHERE w.id = p_worker
   RETURNING w.ack_key, w.capacity INTO v_ack_key, v_capacity;
  -- Named by the worker: it has started them.
  UPDATE drover_tasks SET status = 'running', started_at = coalesce(started_at, now())
   WHERE id IN (SELECT t.id FROM drover_tasks t
                 WHERE t.worker_id = p_worker AND t.status = 'assigned' AND t.id = ANY (p_tasks)
                 FOR UPDATE SKIP LOCKED);
  -- Cancelled or killed, was running, and the worker no longer names it: the worker stopped it.
  WITH e AS (
    UPDATE drover_tasks SET status = 'cancelled', ended_at = now(),
           error = coalesce(error, jsonb_build_object('code', 'TASK_CANCELLED', 'message', 'the task was ' || control || 'ed'))
     WHERE id IN (SELECT t.id FROM drover_tasks t
                   WHERE t.worker_id = p_worker AND t.status = 'running' AND t.control IN ('cancel', 'kill')
                     AND NOT (t.id = ANY (p_tasks))
                   FOR UPDATE SKIP LOCKED)
    RETURNING id)
  SELECT coalesce(jsonb_agg(e.id ORDER BY e.id), '[]'::jsonb) INTO v_ended FROM e;
  IF jsonb_array_length(v_ended) > 0 THEN
    UPDATE drover_workers SET last_work_at = now() WHERE id = p_worker;
    IF p_audit THEN
      INSERT INTO drover_audit (actor, action, object, details)
      SELECT 'system', 'task.cancelled', x.id, jsonb_build_object('reason', 'stopped by its worker')
        FROM jsonb_array_elements_text(v_ended) WITH ORDINALITY AS x(id, n) ORDER BY x.n;
    END IF;
  END IF;
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'token', t.token, 'kind', t.kind,
                                               'spec', t.spec, 'control', t.control)
                            ORDER BY t.assigned_at, t.id), '[]'::jsonb)
    INTO v_tasks
    FROM drover_tasks t
   WHERE t.worker_id = p_worker AND t.status IN ('assigned', 'running');
  RETURN jsonb_build_object(
    'status', 'ok',
    'received_at', (extract(epoch FROM v_now) * 1000)::double precision,
    'worker', jsonb_build_object('id', p_worker, 'ack_key', v_ack_key, 'capacity', v_capacity),
    'tasks', v_tasks,
    'ended', v_ended);
END
$$;
