-- 0003_state_batch: group commit of state writes. Several resource operations that finish while a
-- write is in flight are recorded together in ONE statement (one transaction, one WAL flush) instead
-- of one each. Every operation still waits until its own record is committed before it goes on, so
-- "a crash at any instant loses nothing" holds exactly as with single commits: a batch is committed
-- whole or not at all, and no caller was told "recorded" before it was.
--
-- p_ops is a JSON array of
--   { "op": "intent", "flock", "target", "lineage", "address", "type", "key", "properties",
--     "dependencies", "created_at" }
--   { "op": "commit", "flock", "target", "lineage", "address", "action", "resource" (object|null),
--     "clear": bool }
-- and the result is a JSON array of the same length: the new serial of each commit, 0 for intents.
CREATE FUNCTION drover_state_batch(p_ops jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  op jsonb;
  out jsonb := '[]'::jsonb;
  v_serial bigint;
  v_resource jsonb;
BEGIN
  FOR op IN SELECT value FROM jsonb_array_elements(p_ops) LOOP
    IF op->>'op' = 'intent' THEN
      INSERT INTO drover_states (flock, target, lineage, serial)
      VALUES (op->>'flock', op->>'target', (op->>'lineage')::uuid, 0)
      ON CONFLICT (flock, target) DO NOTHING;
      INSERT INTO drover_state_intents
        (flock, target, address, type, idempotency_key, properties, dependencies, created_at)
      VALUES (op->>'flock', op->>'target', op->>'address', op->>'type', op->>'key',
              COALESCE(op->'properties', '{}'), COALESCE(op->'dependencies', '[]'),
              (op->>'created_at')::timestamptz)
      ON CONFLICT (flock, target, address) DO UPDATE SET
        type = EXCLUDED.type, idempotency_key = EXCLUDED.idempotency_key, properties = EXCLUDED.properties,
        dependencies = EXCLUDED.dependencies, created_at = EXCLUDED.created_at;
      out := out || '0'::jsonb;
    ELSIF op->>'op' = 'commit' THEN
      v_resource := CASE WHEN jsonb_typeof(op->'resource') = 'object' THEN op->'resource' END;
      v_serial := drover_state_commit(op->>'flock', op->>'target', (op->>'lineage')::uuid,
                                      op->>'address', op->>'action', v_resource,
                                      COALESCE((op->>'clear')::boolean, false));
      out := out || to_jsonb(v_serial);
    ELSE
      RAISE EXCEPTION 'drover_state_batch: unknown op %', op->>'op';
    END IF;
  END LOOP;
  RETURN out;
END
$$;
