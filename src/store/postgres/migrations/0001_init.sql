-- 0001_init: the smsbatch schema. It is the Supabase schema and runs unchanged on Supabase; on
-- plain PostgreSQL it first creates, only where missing, what Supabase provides: the roles
-- `anon`, `authenticated` and `service_role`, and `auth.uid()` / `auth.jwt()` reading the claims
-- PostgREST sets (`request.jwt.claims`). Everything else lives in the current schema (`public`).
--
-- Times are always passed in (`p_now`): nothing here reads the clock, so tests can run on a
-- paused one. Enum-like columns hold snake_case names with check constraints; the library maps
-- them to its types (MessageStatus::as_sql, BatchState::code...).

-- ---------------------------------------------------------------------------------------------
-- What Supabase provides
-- ---------------------------------------------------------------------------------------------

-- Roles are shared by every database of a cluster: two databases migrating at once may both see
-- one missing, so the loser of the race ignores the duplicate.
DO $roles$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        IF r = 'service_role' THEN
          EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT BYPASSRLS', r);
        ELSE
          EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
    -- The migrating user must be able to SET ROLE to run statements as a user (--jwt).
    IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
      EXECUTE format('GRANT %I TO %I', r, current_user);
    END IF;
  END LOOP;
END
$roles$;

DO $auth$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth;
    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
  END IF;
  -- Supabase's own definitions: the claims PostgREST sets for the request, as jsonb, and the
  -- user id (`sub`).
  IF to_regprocedure('auth.jwt()') IS NULL THEN
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
    GRANT EXECUTE ON FUNCTION auth.jwt() TO anon, authenticated, service_role;
  END IF;
  IF to_regprocedure('auth.uid()') IS NULL THEN
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
    GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
  END IF;
END
$auth$;

-- The team of the request's user: the `team_id` claim, or on Supabase `app_metadata.team_id`
-- (which only the service can set; `user_metadata` is the user's own and is never read).
CREATE FUNCTION sms_team_id() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(auth.jwt() ->> 'team_id', auth.jwt() -> 'app_metadata' ->> 'team_id')
$$;

-- ---------------------------------------------------------------------------------------------
-- The state machines (the same tables as smsbatch::queue's `can_become`; a test compares them)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION sms_message_can_become(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (p_from, p_to) IN (
    ('pending', 'processing'), ('pending', 'cancelled'),
    ('processing', 'pending'), ('processing', 'sent'), ('processing', 'failed'),
    ('processing', 'in_doubt'), ('processing', 'delivered'), ('processing', 'undelivered'),
    ('sent', 'delivered'), ('sent', 'undelivered'), ('sent', 'failed'),
    ('in_doubt', 'sent'), ('in_doubt', 'delivered'), ('in_doubt', 'undelivered'),
    ('in_doubt', 'pending'), ('in_doubt', 'failed'))
$$;

CREATE FUNCTION sms_batch_can_become(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (p_from, p_to) IN (
    ('requested', 'preparing'), ('requested', 'cancelled'), ('requested', 'failed'),
    ('preparing', 'scheduled'), ('preparing', 'sending'), ('preparing', 'cancelled'),
    ('preparing', 'failed'),
    ('scheduled', 'sending'), ('scheduled', 'paused'), ('scheduled', 'cancelled'),
    ('scheduled', 'failed'),
    ('sending', 'paused'), ('sending', 'verifying'), ('sending', 'cancelled'), ('sending', 'failed'),
    ('paused', 'sending'), ('paused', 'scheduled'), ('paused', 'cancelled'), ('paused', 'failed'),
    ('verifying', 'completed'), ('verifying', 'sending'), ('verifying', 'paused'),
    ('verifying', 'cancelled'), ('verifying', 'failed'))
$$;

-- ---------------------------------------------------------------------------------------------
-- Customers and templates (read by a team, written by the service)
-- ---------------------------------------------------------------------------------------------

-- The default customer schema's columns; custom fields live in `attributes`, which templates see
-- as top-level variables unless a column has the same name.
CREATE TABLE customers (
  id            bigint PRIMARY KEY,
  team_id       text,
  first_name    text,
  last_name     text,
  phone         text,
  email         text,
  city          text,
  country       text,
  language      text,
  gender        text,
  date_create   timestamptz,
  last_order_at timestamptz,
  birthday      date,
  total_spent   numeric,
  orders_count  bigint,
  opted_in      boolean,
  opted_out     boolean,
  attributes    jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT customers_attributes_object CHECK (jsonb_typeof(attributes) = 'object')
);
CREATE INDEX customers_team_idx ON customers (team_id, id);
CREATE INDEX customers_date_create_idx ON customers (date_create DESC NULLS LAST, id);

CREATE TABLE sms_templates (
  id          text PRIMARY KEY CONSTRAINT sms_templates_id_present CHECK (id <> ''),
  team_id     text DEFAULT sms_team_id(),
  owner       uuid DEFAULT auth.uid(),
  name        text NOT NULL CONSTRAINT sms_templates_name_present CHECK (name <> ''),
  body        text NOT NULL,
  description text NOT NULL DEFAULT '',
  tags        text[] NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX sms_templates_team_idx ON sms_templates (team_id);

-- ---------------------------------------------------------------------------------------------
-- Saved filters (private, shared with listed users, or visible to the owner's team)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE sms_saved_filters (
  id          text PRIMARY KEY CONSTRAINT sms_saved_filters_id_present CHECK (id <> ''),
  owner       uuid NOT NULL DEFAULT auth.uid(),
  team_id     text DEFAULT sms_team_id(),
  name        text NOT NULL CONSTRAINT sms_saved_filters_name_present CHECK (name <> ''),
  description text NOT NULL DEFAULT '',
  visibility  text NOT NULL DEFAULT 'private'
              CONSTRAINT sms_saved_filters_visibility CHECK (visibility IN ('private', 'shared', 'team')),
  shared_with uuid[] NOT NULL DEFAULT '{}',
  filter      jsonb NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  CONSTRAINT sms_saved_filters_shared CHECK ((visibility = 'shared') = (cardinality(shared_with) > 0)),
  CONSTRAINT sms_saved_filters_times CHECK (updated_at >= created_at)
);
CREATE INDEX sms_saved_filters_owner_idx ON sms_saved_filters (owner);
CREATE INDEX sms_saved_filters_shared_idx ON sms_saved_filters USING gin (shared_with);

-- ---------------------------------------------------------------------------------------------
-- Feature flags and suppressions (global; read by users, written by the service)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE sms_feature_flags (
  name            text PRIMARY KEY CONSTRAINT sms_feature_flags_name_present CHECK (name <> ''),
  description     text,
  enabled         boolean NOT NULL DEFAULT false,
  flag_type       text,
  project         text,
  stale           boolean NOT NULL DEFAULT false,
  impression_data boolean NOT NULL DEFAULT false,
  strategies      jsonb NOT NULL DEFAULT '[]',  -- Unleash strategies, verbatim
  variants        jsonb NOT NULL DEFAULT '[]',  -- Unleash variants, verbatim
  dependencies    jsonb NOT NULL DEFAULT '[]',  -- Unleash dependencies, verbatim
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);

CREATE TABLE sms_feature_flag_segments (
  id          bigint PRIMARY KEY,
  name        text,
  constraints jsonb NOT NULL DEFAULT '[]',      -- Unleash constraints, verbatim
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);

-- Numbers that must never get a text (replied STOP, or refused as opted out by the provider).
CREATE TABLE sms_suppressions (
  phone      text PRIMARY KEY CONSTRAINT sms_suppressions_phone_present CHECK (phone <> ''),
  reason     text,
  created_at timestamptz NOT NULL
);

-- ---------------------------------------------------------------------------------------------
-- Batches, their messages, excluded recipients and logs
-- ---------------------------------------------------------------------------------------------

CREATE TABLE sms_batches (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner           uuid DEFAULT auth.uid(),
  team_id         text DEFAULT sms_team_id(),
  state           text NOT NULL DEFAULT 'requested'
                  CONSTRAINT sms_batches_state CHECK (state IN ('requested', 'preparing', 'scheduled',
                    'sending', 'paused', 'verifying', 'completed', 'cancelled', 'failed')),
  pause_reason    text
                  CONSTRAINT sms_batches_pause_reason CHECK (pause_reason IN ('operator', 'error_rate',
                    'budget', 'kill_switch', 'send_window', 'provider')),
  purpose         text NOT NULL DEFAULT 'marketing'
                  CONSTRAINT sms_batches_purpose CHECK (purpose IN ('marketing', 'transactional')),
  template_id     text REFERENCES sms_templates (id) ON DELETE SET NULL,
  template_body   text,              -- the template as it was when the batch was prepared
  sender          text,
  filter          jsonb,             -- the audience: a filter document {"version": 1, "where": ...}
  options         jsonb NOT NULL DEFAULT '{}',
  idempotency_key text,
  send_at         timestamptz,
  progress        jsonb NOT NULL DEFAULT '{}',
  currency        text,
  budget          numeric CONSTRAINT sms_batches_budget CHECK (budget >= 0),
  budget_reserved numeric NOT NULL DEFAULT 0 CONSTRAINT sms_batches_reserved CHECK (budget_reserved >= 0),
  budget_spent    numeric NOT NULL DEFAULT 0 CONSTRAINT sms_batches_spent CHECK (budget_spent >= 0),
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  started_at      timestamptz,
  completed_at    timestamptz,
  CONSTRAINT sms_batches_paused_reason CHECK ((state = 'paused') = (pause_reason IS NOT NULL))
);
-- One batch per idempotency key and owner (the service, with no owner, counts as one owner).
CREATE UNIQUE INDEX sms_batches_idempotency_idx
  ON sms_batches (coalesce(owner, '00000000-0000-0000-0000-000000000000'::uuid), idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX sms_batches_owner_idx ON sms_batches (owner, created_at, id);
CREATE INDEX sms_batches_state_idx ON sms_batches (state, created_at, id);

CREATE TABLE sms_batch_messages (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_id          uuid NOT NULL REFERENCES sms_batches (id) ON DELETE CASCADE,
  customer_id       bigint NOT NULL,
  phone             text NOT NULL CONSTRAINT sms_batch_messages_phone_present CHECK (phone <> ''),
  sender            text,
  country_code      text,             -- the country calling code of `phone` ("44")
  body              text NOT NULL,
  encoding          text NOT NULL CONSTRAINT sms_batch_messages_encoding CHECK (encoding IN ('GSM-7', 'UCS-2')),
  segments          integer NOT NULL CONSTRAINT sms_batch_messages_segments CHECK (segments >= 1),
  estimated_cost    numeric NOT NULL DEFAULT 0 CONSTRAINT sms_batch_messages_cost CHECK (estimated_cost >= 0),
  variant           text,             -- the A/B template variant
  time_zone         text,             -- the customer's IANA zone, for send windows
  status            text NOT NULL DEFAULT 'pending'
                    CONSTRAINT sms_batch_messages_status CHECK (status IN ('pending', 'processing', 'sent',
                      'delivered', 'undelivered', 'failed', 'in_doubt', 'cancelled')),
  claim_token       uuid,
  lease_expires_at  timestamptz,
  attempts          integer NOT NULL DEFAULT 0 CONSTRAINT sms_batch_messages_attempts CHECK (attempts >= 0),
  max_attempts      integer CONSTRAINT sms_batch_messages_max_attempts CHECK (max_attempts >= 1),
  run_at            timestamptz NOT NULL,
  claimed_at        timestamptz,
  send_started_at   timestamptz,      -- written before the provider is called
  accepted_at       timestamptz,
  delivered_at      timestamptz,
  provider_id       text,
  provider_status   text,
  provider_segments integer,
  error_category    text
                    CONSTRAINT sms_batch_messages_error_category CHECK (error_category IN ('rate_limited',
                      'backpressure', 'transient', 'provider_error', 'in_doubt', 'invalid_recipient',
                      'opted_out', 'unreachable', 'blocked', 'filtered', 'content', 'config', 'account',
                      'compliance', 'unknown')),
  error_code        text,
  error_message     text,
  price             numeric CONSTRAINT sms_batch_messages_price CHECK (price >= 0),
  price_currency    text,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  CONSTRAINT sms_batch_messages_customer UNIQUE (batch_id, customer_id),
  CONSTRAINT sms_batch_messages_recipient UNIQUE (batch_id, phone),
  CONSTRAINT sms_batch_messages_claimed CHECK ((status = 'processing') = (claim_token IS NOT NULL)),
  CONSTRAINT sms_batch_messages_leased CHECK ((status = 'processing') = (lease_expires_at IS NOT NULL))
);
-- A provider id belongs to one message (status callbacks find it by this).
CREATE UNIQUE INDEX sms_batch_messages_provider_idx ON sms_batch_messages (provider_id)
  WHERE provider_id IS NOT NULL;
-- The queue: what a claim scans, in its order.
CREATE INDEX sms_batch_messages_pending_idx ON sms_batch_messages (batch_id, run_at, id)
  WHERE status = 'pending';
CREATE INDEX sms_batch_messages_pending_any_idx ON sms_batch_messages (run_at, id)
  WHERE status = 'pending';
-- What the rescuer scans.
CREATE INDEX sms_batch_messages_lease_idx ON sms_batch_messages (lease_expires_at)
  WHERE status = 'processing';
-- What reconciliation and verification scan.
CREATE INDEX sms_batch_messages_in_doubt_idx ON sms_batch_messages (batch_id, id)
  WHERE status = 'in_doubt';
CREATE INDEX sms_batch_messages_sent_idx ON sms_batch_messages (batch_id, accepted_at)
  WHERE status = 'sent';
-- Listing a batch's messages in id order (keyset pages, exports) and counting them by status.
CREATE INDEX sms_batch_messages_batch_idx ON sms_batch_messages (batch_id, id);
CREATE INDEX sms_batch_messages_status_idx ON sms_batch_messages (batch_id, status);

CREATE TABLE sms_batch_excluded (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_id    uuid NOT NULL REFERENCES sms_batches (id) ON DELETE CASCADE,
  customer_id bigint NOT NULL,
  phone       text,
  reason      text NOT NULL CONSTRAINT sms_batch_excluded_reason CHECK (reason IN ('no_phone',
                'invalid_phone', 'duplicate_phone', 'opted_out', 'no_consent', 'missing_variable',
                'empty_body', 'too_many_segments')),
  detail      text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL,
  CONSTRAINT sms_batch_excluded_customer UNIQUE (batch_id, customer_id)
);
CREATE INDEX sms_batch_excluded_batch_idx ON sms_batch_excluded (batch_id, id);

-- Append-only: no role is granted UPDATE or DELETE (a batch's deletion cascades).
CREATE TABLE sms_batch_logs (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_id uuid NOT NULL REFERENCES sms_batches (id) ON DELETE CASCADE,
  at       timestamptz NOT NULL,
  level    text NOT NULL CONSTRAINT sms_batch_logs_level CHECK (level IN ('debug', 'info', 'warn', 'error')),
  event    text NOT NULL CONSTRAINT sms_batch_logs_event_present CHECK (event <> ''),
  message  text NOT NULL DEFAULT '',
  data     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX sms_batch_logs_batch_idx ON sms_batch_logs (batch_id, id);

-- ---------------------------------------------------------------------------------------------
-- Row-level security: `anon` reads nothing; `authenticated` reads its team's customers and
-- templates, its own and shared saved filters, its own batches with their messages, exclusions
-- and logs, and writes only its own; `service_role` (and the table owner) bypass it.
-- ---------------------------------------------------------------------------------------------

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_saved_filters ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_feature_flags ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_feature_flag_segments ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_suppressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_batch_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_batch_excluded ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_batch_logs ENABLE ROW LEVEL SECURITY;
-- The migrator's own record (created before this file runs, when no role may exist yet).
ALTER TABLE sms_schema_migrations ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON sms_schema_migrations FROM PUBLIC, anon, authenticated;

-- Supabase grants every role every table of `public` by default; this schema grants exactly
-- what the policies below need, the same on both.
REVOKE ALL ON customers, sms_templates, sms_saved_filters, sms_feature_flags,
  sms_feature_flag_segments, sms_suppressions, sms_batches, sms_batch_messages,
  sms_batch_excluded, sms_batch_logs FROM PUBLIC, anon, authenticated;
GRANT ALL ON customers, sms_templates, sms_saved_filters, sms_feature_flags,
  sms_feature_flag_segments, sms_suppressions, sms_batches, sms_batch_messages,
  sms_batch_excluded, sms_batch_logs TO service_role;
GRANT SELECT ON customers, sms_feature_flags, sms_feature_flag_segments TO authenticated;
GRANT SELECT, INSERT ON sms_suppressions, sms_batch_logs TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON sms_templates, sms_saved_filters, sms_batches,
  sms_batch_messages, sms_batch_excluded TO authenticated;

CREATE POLICY customers_read ON customers FOR SELECT TO authenticated
  USING (team_id = sms_team_id());

CREATE POLICY sms_templates_read ON sms_templates FOR SELECT TO authenticated
  USING (team_id = sms_team_id());
CREATE POLICY sms_templates_insert ON sms_templates FOR INSERT TO authenticated
  WITH CHECK (owner = auth.uid() AND team_id = sms_team_id());
CREATE POLICY sms_templates_update ON sms_templates FOR UPDATE TO authenticated
  USING (owner = auth.uid()) WITH CHECK (owner = auth.uid() AND team_id = sms_team_id());
CREATE POLICY sms_templates_delete ON sms_templates FOR DELETE TO authenticated
  USING (owner = auth.uid());

CREATE POLICY sms_saved_filters_read ON sms_saved_filters FOR SELECT TO authenticated
  USING (owner = auth.uid()
    OR (visibility = 'shared' AND auth.uid() = ANY (shared_with))
    OR (visibility = 'team' AND team_id = sms_team_id()));
CREATE POLICY sms_saved_filters_insert ON sms_saved_filters FOR INSERT TO authenticated
  WITH CHECK (owner = auth.uid() AND team_id IS NOT DISTINCT FROM sms_team_id());
CREATE POLICY sms_saved_filters_update ON sms_saved_filters FOR UPDATE TO authenticated
  USING (owner = auth.uid())
  WITH CHECK (owner = auth.uid() AND team_id IS NOT DISTINCT FROM sms_team_id());
CREATE POLICY sms_saved_filters_delete ON sms_saved_filters FOR DELETE TO authenticated
  USING (owner = auth.uid());

CREATE POLICY sms_feature_flags_read ON sms_feature_flags FOR SELECT TO authenticated
  USING (true);
CREATE POLICY sms_feature_flag_segments_read ON sms_feature_flag_segments FOR SELECT
  TO authenticated USING (true);

-- Adding a suppression only ever stops texts, so users may; removing one is the service's.
CREATE POLICY sms_suppressions_read ON sms_suppressions FOR SELECT TO authenticated
  USING (true);
CREATE POLICY sms_suppressions_insert ON sms_suppressions FOR INSERT TO authenticated
  WITH CHECK (true);

CREATE POLICY sms_batches_read ON sms_batches FOR SELECT TO authenticated
  USING (owner = auth.uid());
CREATE POLICY sms_batches_insert ON sms_batches FOR INSERT TO authenticated
  WITH CHECK (owner = auth.uid() AND team_id IS NOT DISTINCT FROM sms_team_id());
CREATE POLICY sms_batches_update ON sms_batches FOR UPDATE TO authenticated
  USING (owner = auth.uid())
  WITH CHECK (owner = auth.uid() AND team_id IS NOT DISTINCT FROM sms_team_id());
CREATE POLICY sms_batches_delete ON sms_batches FOR DELETE TO authenticated
  USING (owner = auth.uid());

-- Whether the request's user owns the batch (the rows of a batch follow it).
CREATE FUNCTION sms_owns_batch(p_batch_id uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM sms_batches b WHERE b.id = p_batch_id AND b.owner = auth.uid())
$$;

CREATE POLICY sms_batch_messages_own ON sms_batch_messages FOR ALL TO authenticated
  USING (sms_owns_batch(batch_id)) WITH CHECK (sms_owns_batch(batch_id));
CREATE POLICY sms_batch_excluded_own ON sms_batch_excluded FOR ALL TO authenticated
  USING (sms_owns_batch(batch_id)) WITH CHECK (sms_owns_batch(batch_id));
CREATE POLICY sms_batch_logs_read ON sms_batch_logs FOR SELECT TO authenticated
  USING (sms_owns_batch(batch_id));
CREATE POLICY sms_batch_logs_insert ON sms_batch_logs FOR INSERT TO authenticated
  WITH CHECK (sms_owns_batch(batch_id));

-- ---------------------------------------------------------------------------------------------
-- Queue functions (PostgREST calls them as RPCs; the postgres store calls them directly). They
-- run with the caller's rights, so row-level security applies to a user's calls too. PL/pgSQL,
-- not SQL, so each connection plans their statements once.
-- ---------------------------------------------------------------------------------------------

-- Claims up to `p_limit` pending messages whose `run_at` has come, of batches that are sending
-- (of one batch, or of any when `p_batch_id` is null), under a lease of `p_lease_ms` and the
-- claim token `p_token`. SKIP LOCKED: concurrent claimers take different messages and never wait.
CREATE FUNCTION sms_claim_messages(
  p_batch_id uuid, p_limit integer, p_token uuid, p_lease_ms bigint, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH c AS (
    SELECT m.id
      FROM sms_batch_messages m
      JOIN sms_batches b ON b.id = m.batch_id AND b.state = 'sending'
     WHERE m.status = 'pending'
       AND m.run_at <= p_now
       AND (p_batch_id IS NULL OR m.batch_id = p_batch_id)
     ORDER BY m.run_at, m.id
     LIMIT greatest(p_limit, 0)
       FOR UPDATE OF m SKIP LOCKED),
  u AS (
    UPDATE sms_batch_messages m
       SET status = 'processing',
           claim_token = p_token,
           claimed_at = p_now,
           lease_expires_at = p_now + p_lease_ms * interval '1 millisecond',
           send_started_at = NULL,
           attempts = m.attempts + 1,
           updated_at = p_now
      FROM c
     WHERE m.id = c.id AND m.status = 'pending'
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- Records that the provider is about to be called (fenced by the claim token).
CREATE FUNCTION sms_mark_send_started(p_id bigint, p_token uuid, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH u AS (
    UPDATE sms_batch_messages m
       SET send_started_at = p_now, updated_at = p_now
     WHERE m.id = p_id AND m.claim_token = p_token AND m.status = 'processing'
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- Extends a claim's lease (a heartbeat for a slow send).
CREATE FUNCTION sms_extend_lease(p_id bigint, p_token uuid, p_lease_ms bigint, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH u AS (
    UPDATE sms_batch_messages m
       SET lease_expires_at = p_now + p_lease_ms * interval '1 millisecond', updated_at = p_now
     WHERE m.id = p_id AND m.claim_token = p_token AND m.status = 'processing'
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- Gives back a claim whose send never started (graceful shutdown): pending again, the attempt
-- not counted.
CREATE FUNCTION sms_release_message(p_id bigint, p_token uuid, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH u AS (
    UPDATE sms_batch_messages m
       SET status = 'pending', claim_token = NULL, lease_expires_at = NULL,
           attempts = greatest(m.attempts - 1, 0), updated_at = p_now
     WHERE m.id = p_id AND m.claim_token = p_token AND m.status = 'processing'
       AND m.send_started_at IS NULL
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- Moves one message to `p_to`, fenced: with a claim token, only while that claim holds
-- (`processing`); otherwise only from the status `p_from`. Only moves the state machine allows.
-- `p_changes` may set run_at, provider_id, provider_status, provider_segments, error_category,
-- error_code, error_message, price and price_currency (a key absent keeps the value). Returns
-- no row when the fence does not hold: the caller lost its lease and must do nothing more.
CREATE FUNCTION sms_transition_message(
  p_id bigint, p_token uuid, p_from text, p_to text, p_changes jsonb, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH u AS (
    UPDATE sms_batch_messages m
       SET status = p_to,
           claim_token = NULL,
           lease_expires_at = NULL,
           run_at = CASE WHEN p_changes ? 'run_at' THEN (p_changes ->> 'run_at')::timestamptz
                         ELSE m.run_at END,
           provider_id = CASE WHEN p_changes ? 'provider_id' THEN p_changes ->> 'provider_id'
                              ELSE m.provider_id END,
           provider_status = CASE WHEN p_changes ? 'provider_status'
                                  THEN p_changes ->> 'provider_status' ELSE m.provider_status END,
           provider_segments = CASE WHEN p_changes ? 'provider_segments'
                                    THEN (p_changes ->> 'provider_segments')::integer
                                    ELSE m.provider_segments END,
           error_category = CASE WHEN p_changes ? 'error_category'
                                 THEN p_changes ->> 'error_category' ELSE m.error_category END,
           error_code = CASE WHEN p_changes ? 'error_code' THEN p_changes ->> 'error_code'
                             ELSE m.error_code END,
           error_message = CASE WHEN p_changes ? 'error_message' THEN p_changes ->> 'error_message'
                                ELSE m.error_message END,
           price = CASE WHEN p_changes ? 'price' THEN (p_changes ->> 'price')::numeric
                        ELSE m.price END,
           price_currency = CASE WHEN p_changes ? 'price_currency'
                                 THEN p_changes ->> 'price_currency' ELSE m.price_currency END,
           accepted_at = CASE WHEN p_to IN ('sent', 'delivered', 'undelivered')
                              THEN coalesce(m.accepted_at, p_now) ELSE m.accepted_at END,
           delivered_at = CASE WHEN p_to = 'delivered' THEN coalesce(m.delivered_at, p_now)
                               ELSE m.delivered_at END,
           updated_at = p_now
     WHERE m.id = p_id
       AND p_to <> 'processing'
       AND CASE WHEN p_token IS NULL THEN m.status = p_from
                ELSE m.claim_token = p_token AND m.status = 'processing' END
       AND sms_message_can_become(m.status, p_to)
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- Many fenced moves in one statement (one transaction): each applies on its own fence, as
-- sms_transition_message; the rows returned are those that moved. Ids must be distinct.
CREATE FUNCTION sms_transition_messages(
  p_ids bigint[], p_tokens uuid[], p_froms text[], p_tos text[], p_changes jsonb[],
  p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  SELECT t.*
    FROM unnest(p_ids, p_tokens, p_froms, p_tos, p_changes) AS x(id, token, from_status,
         to_status, changes)
   CROSS JOIN LATERAL sms_transition_message(x.id, x.token, x.from_status, x.to_status,
         x.changes, p_now) AS t;
END
$$;

-- Records the send start of many messages held under one claim token.
CREATE FUNCTION sms_mark_send_started_many(p_ids bigint[], p_token uuid, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH u AS (
    UPDATE sms_batch_messages m
       SET send_started_at = p_now, updated_at = p_now
     WHERE m.id = ANY (p_ids) AND m.claim_token = p_token AND m.status = 'processing'
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- Expired leases (at most `p_limit`): a claim whose send never started goes back to pending;
-- one whose send started goes to in_doubt, to be reconciled, never blindly resent. The update
-- re-checks status and lease (a message completed meanwhile is left alone).
CREATE FUNCTION sms_rescue_expired(p_now timestamptz, p_limit integer)
RETURNS TABLE (id bigint, status text) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH r AS (
    SELECT m.id
      FROM sms_batch_messages m
     WHERE m.status = 'processing' AND m.lease_expires_at < p_now
     ORDER BY m.lease_expires_at
     LIMIT greatest(p_limit, 0)
       FOR UPDATE OF m SKIP LOCKED),
  u AS (
    UPDATE sms_batch_messages m
       SET status = CASE WHEN m.send_started_at IS NULL THEN 'pending' ELSE 'in_doubt' END,
           claim_token = NULL,
           lease_expires_at = NULL,
           updated_at = p_now
      FROM r
     WHERE m.id = r.id AND m.status = 'processing' AND m.lease_expires_at < p_now
    RETURNING m.id, m.status)
  SELECT u.id, u.status FROM u;
END
$$;

-- Moves a batch to `p_to` if its state machine allows it (a paused batch needs a reason).
-- `started_at` is set when it first sends, `completed_at` when it ends.
CREATE FUNCTION sms_transition_batch(p_id uuid, p_to text, p_reason text, p_now timestamptz)
RETURNS SETOF sms_batches LANGUAGE sql VOLATILE AS $$
  UPDATE sms_batches b
     SET state = p_to,
         pause_reason = CASE WHEN p_to = 'paused' THEN p_reason END,
         started_at = CASE WHEN p_to = 'sending' THEN coalesce(b.started_at, p_now)
                           ELSE b.started_at END,
         completed_at = CASE WHEN p_to IN ('completed', 'cancelled', 'failed') THEN p_now
                             ELSE b.completed_at END,
         updated_at = p_now
   WHERE b.id = p_id AND sms_batch_can_become(b.state, p_to)
     AND (p_to <> 'paused' OR p_reason IS NOT NULL)
  RETURNING b.*
$$;

-- Creates the named flags that do not exist yet, off and without rules (what an evaluation of a
-- missing flag asks for). Runs with the owner's rights so users can call it; it can only ever add
-- disabled flags. Returns the names it created.
CREATE FUNCTION sms_ensure_flags(p_names text[], p_now timestamptz)
RETURNS SETOF text LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  INSERT INTO sms_feature_flags (name, created_at, updated_at)
  SELECT DISTINCT n, p_now, p_now FROM unnest(p_names) AS n WHERE n IS NOT NULL AND n <> ''
  ON CONFLICT (name) DO NOTHING
  RETURNING name
$$;

REVOKE EXECUTE ON FUNCTION sms_ensure_flags(text[], timestamptz) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION sms_ensure_flags(text[], timestamptz) TO authenticated, service_role;
