-- 0003_supabase: what the Supabase store (smsbatch::store::supabase) needs beyond 0001, because
-- PostgREST runs one statement per request and cannot cast in a filter:
--
-- * `customers.attributes_typed`, a generated column holding the custom fields in a form that
--   PostgREST can compare and sort without casts (see `sms_typed_attributes`);
-- * RPC functions for the writes that must be one statement: upserts that report which keys were
--   created, updated or unchanged, message inserts that skip a customer or number the batch
--   already has (two unique constraints, which PostgREST's `on_conflict` cannot name together),
--   and counts grouped by status or reason (PostgREST's aggregates are off by default).
--
-- Every function runs with the caller's rights (SECURITY INVOKER), so row-level security applies
-- to a user's calls exactly as to the same statements sent directly. Times are passed in.

-- ---------------------------------------------------------------------------------------------
-- Custom fields PostgREST can compare
-- ---------------------------------------------------------------------------------------------

-- The attributes without their JSON nulls (so `typed->f` is SQL NULL for them, as
-- `(attributes ->> 'f')::type` is), and with every RFC 3339 UTC timestamp written with six
-- fraction digits (`2024-01-01T09:00:00.000000Z`), so that text order is time order. Numbers and
-- booleans stay JSON (jsonb compares numbers as numbers).
CREATE FUNCTION sms_typed_attributes(p_attributes jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(e.key,
           CASE WHEN jsonb_typeof(e.value) = 'string'
                 AND (e.value #>> '{}') ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$'
                THEN to_jsonb(left(e.value #>> '{}', 19) || '.'
                     || rpad(coalesce(substring(e.value #>> '{}' FROM '\.([0-9]+)Z$'), ''), 6, '0')
                     || 'Z')
                ELSE e.value END), '{}'::jsonb)
    FROM jsonb_each(p_attributes) AS e
   WHERE jsonb_typeof(e.value) <> 'null'
$$;

ALTER TABLE customers ADD COLUMN attributes_typed jsonb
  GENERATED ALWAYS AS (sms_typed_attributes(attributes)) STORED;

-- ---------------------------------------------------------------------------------------------
-- Upserts that report what they changed (`created` is false for an update; unchanged rows are
-- not returned)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION sms_upsert_templates(p_rows jsonb, p_team text)
RETURNS TABLE (key text, created boolean) LANGUAGE sql VOLATILE AS $$
  INSERT INTO sms_templates AS t (id, team_id, owner, name, body, description, tags, created_at,
    updated_at)
  SELECT r.id, coalesce(p_team, sms_team_id()), auth.uid(), r.name, r.body, r.description,
         r.tags, r.created_at, r.updated_at
    FROM jsonb_to_recordset(p_rows) AS r(id text, name text, body text, description text,
         tags text[], created_at timestamptz, updated_at timestamptz)
  ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, body = EXCLUDED.body,
    description = EXCLUDED.description, tags = EXCLUDED.tags, created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at
  WHERE (t.name, t.body, t.description, t.tags, t.created_at, t.updated_at)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.body, EXCLUDED.description, EXCLUDED.tags,
    EXCLUDED.created_at, EXCLUDED.updated_at)
  RETURNING t.id, (t.xmax = 0)
$$;

CREATE FUNCTION sms_import_saved_filters(p_rows jsonb, p_team text)
RETURNS TABLE (key text, created boolean) LANGUAGE sql VOLATILE AS $$
  INSERT INTO sms_saved_filters AS s (id, owner, team_id, name, description, visibility,
    shared_with, filter, created_at, updated_at)
  SELECT r.id, r.owner, coalesce(p_team, sms_team_id()), r.name, r.description, r.visibility,
         r.shared_with, r.filter, r.created_at, r.updated_at
    FROM jsonb_to_recordset(p_rows) AS r(id text, owner uuid, name text, description text,
         visibility text, shared_with uuid[], filter jsonb, created_at timestamptz,
         updated_at timestamptz)
  ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, name = EXCLUDED.name,
    description = EXCLUDED.description, visibility = EXCLUDED.visibility,
    shared_with = EXCLUDED.shared_with, filter = EXCLUDED.filter,
    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
  WHERE (s.owner, s.name, s.description, s.visibility, s.shared_with, s.filter, s.created_at,
    s.updated_at) IS DISTINCT FROM (EXCLUDED.owner, EXCLUDED.name, EXCLUDED.description,
    EXCLUDED.visibility, EXCLUDED.shared_with, EXCLUDED.filter, EXCLUDED.created_at,
    EXCLUDED.updated_at)
  RETURNING s.id, (s.xmax = 0)
$$;

CREATE FUNCTION sms_upsert_flags(p_rows jsonb, p_now timestamptz)
RETURNS TABLE (key text, created boolean) LANGUAGE sql VOLATILE AS $$
  INSERT INTO sms_feature_flags AS f (name, description, enabled, flag_type, project, stale,
    impression_data, strategies, variants, dependencies, created_at, updated_at)
  SELECT r.name, r.description, r.enabled, r.flag_type, r.project, r.stale, r.impression_data,
         coalesce(r.strategies, '[]'), coalesce(r.variants, '[]'),
         coalesce(r.dependencies, '[]'), p_now, p_now
    FROM jsonb_to_recordset(p_rows) AS r(name text, description text, enabled boolean,
         flag_type text, project text, stale boolean, impression_data boolean,
         strategies jsonb, variants jsonb, dependencies jsonb)
  ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description,
    enabled = EXCLUDED.enabled, flag_type = EXCLUDED.flag_type, project = EXCLUDED.project,
    stale = EXCLUDED.stale, impression_data = EXCLUDED.impression_data,
    strategies = EXCLUDED.strategies, variants = EXCLUDED.variants,
    dependencies = EXCLUDED.dependencies, updated_at = EXCLUDED.updated_at
  WHERE (f.description, f.enabled, f.flag_type, f.project, f.stale, f.impression_data,
    f.strategies, f.variants, f.dependencies) IS DISTINCT FROM (EXCLUDED.description,
    EXCLUDED.enabled, EXCLUDED.flag_type, EXCLUDED.project, EXCLUDED.stale,
    EXCLUDED.impression_data, EXCLUDED.strategies, EXCLUDED.variants, EXCLUDED.dependencies)
  RETURNING f.name, (f.xmax = 0)
$$;

-- A whole Unleash state in one transaction: segments first (flags refer to them), then flags.
-- `kind` is 'segment' or 'flag'.
CREATE FUNCTION sms_import_flags(p_flags jsonb, p_segments jsonb, p_now timestamptz)
RETURNS TABLE (kind text, key text, created boolean) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH s AS (
    INSERT INTO sms_feature_flag_segments AS s (id, name, constraints, created_at, updated_at)
    SELECT r.id, r.name, coalesce(r.constraints, '[]'), p_now, p_now
      FROM jsonb_to_recordset(p_segments) AS r(id bigint, name text, constraints jsonb)
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, constraints = EXCLUDED.constraints,
      updated_at = EXCLUDED.updated_at
    WHERE (s.name, s.constraints) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.constraints)
    RETURNING s.id::text AS key, (s.xmax = 0) AS created)
  SELECT 'segment'::text, s.key, s.created FROM s;
  RETURN QUERY
  SELECT 'flag'::text, u.key, u.created FROM sms_upsert_flags(p_flags, p_now) AS u;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Messages: a chunk of a batch's messages in one statement
-- ---------------------------------------------------------------------------------------------

-- Inserts messages (a JSON array, in the order of their `ord`), `pending` from `run_at` (or `p_now`); a
-- message for a customer or a number the batch already has is skipped. Returns how many were
-- inserted.
CREATE FUNCTION sms_insert_messages(p_batch_id uuid, p_rows jsonb, p_now timestamptz)
RETURNS bigint LANGUAGE sql VOLATILE AS $$
  WITH ins AS (
    INSERT INTO sms_batch_messages (batch_id, customer_id, phone, sender, country_code, body,
      encoding, segments, estimated_cost, variant, time_zone, max_attempts, run_at, created_at,
      updated_at)
    SELECT p_batch_id, r.customer_id, r.phone, r.sender, r.country_code, r.body, r.encoding,
           r.segments, r.estimated_cost::numeric, r.variant, r.time_zone, r.max_attempts,
           coalesce(r.run_at, p_now), p_now, p_now
      FROM jsonb_to_recordset(p_rows) AS r(ord bigint, customer_id bigint, phone text,
           sender text, country_code text, body text, encoding text, segments integer,
           estimated_cost text, variant text, time_zone text, max_attempts integer,
           run_at timestamptz)
     ORDER BY r.ord
    ON CONFLICT DO NOTHING
    RETURNING 1)
  SELECT count(*) FROM ins
$$;

-- ---------------------------------------------------------------------------------------------
-- Counts
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION sms_count_messages_by_status(p_batch_id uuid)
RETURNS TABLE (status text, n bigint) LANGUAGE sql STABLE AS $$
  SELECT m.status, count(*) FROM sms_batch_messages m WHERE m.batch_id = p_batch_id
   GROUP BY m.status
$$;

CREATE FUNCTION sms_count_exclusions_by_reason(p_batch_id uuid)
RETURNS TABLE (reason text, n bigint) LANGUAGE sql STABLE AS $$
  SELECT e.reason, count(*) FROM sms_batch_excluded e WHERE e.batch_id = p_batch_id
   GROUP BY e.reason
$$;

-- A batch's messages grouped by status and variant, with their segments and costs
-- (MessageStore::totals).
CREATE FUNCTION sms_message_totals(p_batch_id uuid)
RETURNS TABLE (status text, variant text, messages bigint, segments bigint,
  provider_segments bigint, estimated_cost numeric, price numeric, priced bigint)
LANGUAGE sql STABLE AS $$
  SELECT m.status, m.variant, count(*), coalesce(sum(m.segments), 0)::bigint,
         coalesce(sum(m.provider_segments), 0)::bigint, coalesce(sum(m.estimated_cost), 0),
         coalesce(sum(m.price), 0), count(m.price)
    FROM sms_batch_messages m WHERE m.batch_id = p_batch_id
   GROUP BY m.status, m.variant ORDER BY m.status, m.variant NULLS FIRST
$$;

-- Users call these through PostgREST; the anonymous role calls nothing.
REVOKE EXECUTE ON FUNCTION sms_upsert_templates(jsonb, text), sms_import_saved_filters(jsonb, text),
  sms_upsert_flags(jsonb, timestamptz), sms_import_flags(jsonb, jsonb, timestamptz),
  sms_insert_messages(uuid, jsonb, timestamptz), sms_count_messages_by_status(uuid),
  sms_count_exclusions_by_reason(uuid), sms_message_totals(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION sms_upsert_templates(jsonb, text), sms_import_saved_filters(jsonb, text),
  sms_upsert_flags(jsonb, timestamptz), sms_import_flags(jsonb, jsonb, timestamptz),
  sms_insert_messages(uuid, jsonb, timestamptz), sms_count_messages_by_status(uuid),
  sms_count_exclusions_by_reason(uuid), sms_message_totals(uuid) TO authenticated, service_role;
