-- 0001_state: the versioned state of each (flock, target) (SPEC.md §3): one row per state (lineage,
-- serial), one row per resource, every change kept in history, and pending create intents.

CREATE TABLE drover_states (
  flock      text        NOT NULL,
  target     text        NOT NULL,
  -- Fixed when the row is created; a saved plan names it, so a plan made against another history of
  -- the "same" target is refused as stale.
  lineage    uuid        NOT NULL,
  -- 0 until the first change; +1 with every change, without gaps (history has one row per serial).
  serial     bigint      NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (flock, target)
);

-- No foreign keys to drover_states on the tables below, on purpose: drover_state_commit is their only
-- writer and creates the state row first, and each FK check is one more internal query on the
-- critical path of every resource operation (measured ~25% of a commit on PGlite).
CREATE TABLE drover_state_resources (
  flock        text   NOT NULL,
  target       text   NOT NULL,
  address      text   NOT NULL,
  type         text   NOT NULL,
  id           text   NOT NULL,
  properties   jsonb  NOT NULL DEFAULT '{}',
  attributes   jsonb  NOT NULL DEFAULT '{}',
  dependencies jsonb  NOT NULL DEFAULT '[]',
  release_id   text,
  execution_id text,
  status       text,
  -- The serial of the change that last wrote this row.
  serial       bigint NOT NULL,
  PRIMARY KEY (flock, target, address)
);

-- One row per serial: `after` is the resource as recorded by that change (NULL when it was removed),
-- `before` what it replaced. The state at serial N is, per address, the latest `after` at or below N.
CREATE TABLE drover_state_history (
  flock   text        NOT NULL,
  target  text        NOT NULL,
  serial  bigint      NOT NULL,
  address text        NOT NULL,
  action  text        NOT NULL,
  before  jsonb,
  after   jsonb,
  at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (flock, target, serial)
);

CREATE TABLE drover_state_intents (
  flock           text        NOT NULL,
  target          text        NOT NULL,
  address         text        NOT NULL,
  type            text        NOT NULL,
  idempotency_key text        NOT NULL,
  properties      jsonb       NOT NULL DEFAULT '{}',
  dependencies    jsonb       NOT NULL DEFAULT '[]',
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (flock, target, address)
);

-- The resource as JSON, in the shape the engine's ResourceState has (camelCase, absent optionals
-- omitted): what history stores in `before` / `after` and what load returns.
CREATE FUNCTION drover_resource_json(r drover_state_resources) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
           'address', r.address, 'type', r.type, 'id', r.id,
           'properties', r.properties, 'attributes', r.attributes, 'dependencies', r.dependencies)
         || CASE WHEN r.release_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('releaseId', r.release_id) END
         || CASE WHEN r.execution_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('executionId', r.execution_id) END
         || CASE WHEN r.status IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('status', r.status) END
$$;

-- Records one change in ONE round trip and ONE transaction (a function call is one statement):
-- serial + 1 (creating the state row with p_lineage on the first change), the resource row written
-- (p_resource, ResourceState JSON) or removed (p_resource NULL), the history row, and optionally the
-- intent of that address cleared. Returns the new serial.
--
-- Why a function: the serial bump takes the state row's lock first, so concurrent commits to one
-- (flock, target) queue there and get serials in order without gaps; each later statement in the body
-- takes a fresh snapshot (READ COMMITTED, volatile function), so `before` is the row as the previous
-- commit left it. A single CTE statement could not promise that: its snapshot predates the lock wait.
CREATE FUNCTION drover_state_commit(
  p_flock text, p_target text, p_lineage uuid, p_address text, p_action text,
  p_resource jsonb, p_clear_intent boolean
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_serial bigint;
  v_before jsonb;
  v_after jsonb;
BEGIN
  INSERT INTO drover_states AS s (flock, target, lineage, serial)
  VALUES (p_flock, p_target, p_lineage, 1)
  ON CONFLICT (flock, target) DO UPDATE SET serial = s.serial + 1, updated_at = now()
  RETURNING s.serial INTO v_serial;

  IF p_resource IS NULL THEN
    DELETE FROM drover_state_resources r
     WHERE r.flock = p_flock AND r.target = p_target AND r.address = p_address
    RETURNING drover_resource_json(r) INTO v_before;
  ELSE
    SELECT drover_resource_json(r) INTO v_before FROM drover_state_resources r
     WHERE r.flock = p_flock AND r.target = p_target AND r.address = p_address;
    INSERT INTO drover_state_resources AS r
      (flock, target, address, type, id, properties, attributes, dependencies,
       release_id, execution_id, status, serial)
    VALUES (p_flock, p_target, p_address, p_resource->>'type', p_resource->>'id',
            COALESCE(p_resource->'properties', '{}'), COALESCE(p_resource->'attributes', '{}'),
            COALESCE(p_resource->'dependencies', '[]'),
            p_resource->>'releaseId', p_resource->>'executionId', p_resource->>'status', v_serial)
    ON CONFLICT (flock, target, address) DO UPDATE SET
      type = EXCLUDED.type, id = EXCLUDED.id, properties = EXCLUDED.properties,
      attributes = EXCLUDED.attributes, dependencies = EXCLUDED.dependencies,
      release_id = EXCLUDED.release_id, execution_id = EXCLUDED.execution_id,
      status = EXCLUDED.status, serial = EXCLUDED.serial
    RETURNING drover_resource_json(r) INTO v_after;
  END IF;

  INSERT INTO drover_state_history (flock, target, serial, address, action, before, after)
  VALUES (p_flock, p_target, v_serial, p_address, p_action, v_before, v_after);

  IF p_clear_intent THEN
    DELETE FROM drover_state_intents i
     WHERE i.flock = p_flock AND i.target = p_target AND i.address = p_address;
  END IF;

  RETURN v_serial;
END
$$;
