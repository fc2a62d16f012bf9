-- 0005_scheduler_calls: the scheduler's two hottest decisions as one call each, so that each costs one
-- round trip to the database instead of eight or nine (BEGIN, one statement per step, COMMIT). The
-- logic, the lock order and the re-checks are exactly those of the TypeScript they replace
-- (src/scheduler/sql/claim.ts and renew.ts explain them); only the round trips go. Every statement in a
-- VOLATILE PL/pgSQL function takes a fresh snapshot under READ COMMITTED, so "re-checked in fresh
-- statements while the lock is held" still holds.

-- Assignment of ONE queued task: the oldest runnable one (FOR UPDATE SKIP LOCKED) to the healthy worker
-- with a valid lease and the least work (ties: idle longest), within its capacity; token + 1.
-- Returns {"kind":"assigned","task_id","worker_id","token"} | {"kind":"no-task"} | {"kind":"no-worker"}.
CREATE FUNCTION drover_claim_one(p_lease_ttl_ms double precision) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_ttl interval := p_lease_ttl_ms * interval '1 millisecond';
  v_task text;
  v_pick text;
  v_locked text;
  v_room boolean;
  v_token bigint;
  v_tried text[] := '{}';
BEGIN
  SELECT t.id INTO v_task FROM drover_tasks t
   WHERE t.status = 'queued' AND t.control = 'run'
   ORDER BY t.created_at, t.id
   LIMIT 1
   FOR UPDATE SKIP LOCKED;
  IF v_task IS NULL THEN
    RETURN jsonb_build_object('kind', 'no-task');
  END IF;
  -- Each pass assigns or rules one more worker out, so this ends.
  LOOP
    v_pick := NULL;
    SELECT w.id INTO v_pick FROM drover_workers w
     WHERE w.status = 'healthy'
       AND w.last_heartbeat_at > now() - v_ttl
       AND NOT (w.id = ANY (v_tried))
       AND (SELECT count(*) FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ('assigned', 'running')) < w.capacity
     ORDER BY (SELECT count(*) FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ('assigned', 'running')),
              w.last_work_at, w.id
     LIMIT 1;
    IF v_pick IS NULL THEN
      RETURN jsonb_build_object('kind', 'no-worker');
    END IF;
    -- Lock (waiting: a worker busy with a heartbeat for a moment is still the right choice), then
    -- re-check on fresh snapshots what the pick was based on.
    v_locked := NULL;
    SELECT w.id INTO v_locked FROM drover_workers w
     WHERE w.id = v_pick AND w.status = 'healthy' AND w.last_heartbeat_at > now() - v_ttl
     FOR UPDATE;
    v_room := false;
    IF v_locked IS NOT NULL THEN
      SELECT (SELECT count(*) FROM drover_tasks t WHERE t.worker_id = w.id AND t.status IN ('assigned', 'running')) < w.capacity
        INTO v_room
        FROM drover_workers w WHERE w.id = v_pick;
    END IF;
    IF v_room THEN
      UPDATE drover_tasks
         SET status = 'assigned', worker_id = v_pick, token = token + 1, attempts = attempts + 1,
             assigned_at = now(), started_at = NULL
       WHERE id = v_task
       RETURNING token INTO v_token;
      UPDATE drover_workers SET last_work_at = now() WHERE id = v_pick;
      RETURN jsonb_build_object('kind', 'assigned', 'task_id', v_task, 'worker_id', v_pick, 'token', v_token);
    END IF;
    v_tried := v_tried || v_pick;
  END LOOP;
END
$$;

-- One heartbeat: check the caller may act for the worker (p_token_id NULL: an admin, no check), lock
-- the worker row, renew its lease from the moment of RECEIPT (clock_timestamp()), mark the assigned
-- tasks it names as running, end the cancelled/killed ones it no longer names, and read back what is
-- assigned to it now. Task rows are taken SKIP LOCKED: one being completed right now is left to that
-- completion, and a heartbeat never waits for a task row while holding the worker row.
-- Returns {"status":"unknown"|"forbidden"|"gone"} or {"status":"ok","received_at" (epoch ms),
-- "worker":{"id","ack_key","capacity"},"tasks":[{"id","token","kind","spec","control"}…],"ended":[id…]}.
CREATE FUNCTION drover_renew_lease(p_worker text, p_seq bigint, p_tasks text[], p_token_id text)
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
  SELECT coalesce(jsonb_agg(e.id), '[]'::jsonb) INTO v_ended FROM e;
  IF jsonb_array_length(v_ended) > 0 THEN
    UPDATE drover_workers SET last_work_at = now() WHERE id = p_worker;
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
