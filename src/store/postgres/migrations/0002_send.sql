-- 0002_send: what the send runner needs beyond 0001.
--
-- 1. The budget guard: a claim reserves each message's estimated cost on its batch
--    (`budget_reserved`) atomically, and stops (pausing the batch, reason `budget`) at the first
--    message that would take the batch past its budget. A message that goes back to pending, or
--    fails before the provider took it, gives its reservation back.
-- 2. Checks with the provider (verification of `sent` messages, reconciliation of `in_doubt`
--    ones): `verified` (passes done), `verified_at`, and `check_after`, which is both a check's
--    lease (several workers never check the same message at once) and the time of the next check.
-- 3. Deferring a claimed message that may not be sent yet (outside its send window), without
--    counting an attempt; requeueing the failed messages that may succeed on another try.
--
-- Like 0001, nothing here reads the clock: every function takes `p_now`.

ALTER TABLE sms_batch_messages
  ADD COLUMN verified    integer NOT NULL DEFAULT 0
                         CONSTRAINT sms_batch_messages_verified CHECK (verified >= 0),
  ADD COLUMN verified_at timestamptz,
  ADD COLUMN check_after timestamptz;

-- Whether a failure of this category may succeed on another try (ErrorCategory::is_retryable;
-- a test compares them).
CREATE FUNCTION sms_category_is_retryable(p_category text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_category IN ('rate_limited', 'backpressure', 'transient', 'provider_error',
                        'unreachable', 'unknown')
$$;

-- Gives a message's reservation back to its batch (only batches with a budget keep one).
CREATE FUNCTION sms_release_reservation(p_batch_id uuid, p_amount numeric) RETURNS void
LANGUAGE sql VOLATILE AS $$
  UPDATE sms_batches b
     SET budget_reserved = greatest(b.budget_reserved - p_amount, 0)
   WHERE b.id = p_batch_id AND b.budget IS NOT NULL AND p_amount > 0
$$;

-- Claims as 0001 did, and reserves budgets: a message of a batch with a budget is claimed only
-- if its estimated cost still fits (`budget_reserved + cost <= budget`, checked and added in one
-- update of the batch row); the first that does not fit pauses its batch (reason `budget`), and
-- no later message of that batch is claimed. Lock order: message rows, then the batch row (as in
-- every transition), so claims and transitions never deadlock.
CREATE OR REPLACE FUNCTION sms_claim_messages(
  p_batch_id uuid, p_limit integer, p_token uuid, p_lease_ms bigint, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  c record;
  v_admit bigint[] := '{}';
  v_full uuid[] := '{}';
BEGIN
  FOR c IN
    SELECT m.id, m.batch_id, m.estimated_cost, (b.budget IS NOT NULL) AS budgeted
      FROM sms_batch_messages m
      JOIN sms_batches b ON b.id = m.batch_id AND b.state = 'sending'
     WHERE m.status = 'pending'
       AND m.run_at <= p_now
       AND (p_batch_id IS NULL OR m.batch_id = p_batch_id)
     ORDER BY m.run_at, m.id
     LIMIT greatest(p_limit, 0)
       FOR UPDATE OF m SKIP LOCKED
  LOOP
    IF NOT c.budgeted THEN
      v_admit := v_admit || c.id;
    ELSIF NOT (c.batch_id = ANY (v_full)) THEN
      UPDATE sms_batches b
         SET budget_reserved = b.budget_reserved + c.estimated_cost
       WHERE b.id = c.batch_id AND b.state = 'sending'
         AND b.budget_reserved + c.estimated_cost <= b.budget;
      IF FOUND THEN
        v_admit := v_admit || c.id;
      ELSE
        v_full := v_full || c.batch_id;
        UPDATE sms_batches b
           SET state = 'paused', pause_reason = 'budget', updated_at = p_now
         WHERE b.id = c.batch_id AND b.state = 'sending';
      END IF;
    END IF;
  END LOOP;
  RETURN QUERY
  UPDATE sms_batch_messages m
     SET status = 'processing',
         claim_token = p_token,
         claimed_at = p_now,
         lease_expires_at = p_now + p_lease_ms * interval '1 millisecond',
         send_started_at = NULL,
         attempts = m.attempts + 1,
         updated_at = p_now
   WHERE m.id = ANY (v_admit) AND m.status = 'pending'
  RETURNING m.*;
END
$$;

-- As 0001, and the reservation goes back.
CREATE OR REPLACE FUNCTION sms_release_message(p_id bigint, p_token uuid, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r sms_batch_messages;
BEGIN
  UPDATE sms_batch_messages m
     SET status = 'pending', claim_token = NULL, lease_expires_at = NULL,
         attempts = greatest(m.attempts - 1, 0), updated_at = p_now
   WHERE m.id = p_id AND m.claim_token = p_token AND m.status = 'processing'
     AND m.send_started_at IS NULL
  RETURNING m.* INTO r;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM sms_release_reservation(r.batch_id, r.estimated_cost);
  RETURN NEXT r;
END
$$;

-- Gives back a claim whose send never started, to be claimed again from `p_run_at` (a message
-- outside its send window): pending, the attempt not counted, the reservation given back.
CREATE FUNCTION sms_defer_message(p_id bigint, p_token uuid, p_run_at timestamptz,
  p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r sms_batch_messages;
BEGIN
  UPDATE sms_batch_messages m
     SET status = 'pending', claim_token = NULL, lease_expires_at = NULL, run_at = p_run_at,
         attempts = greatest(m.attempts - 1, 0), updated_at = p_now
   WHERE m.id = p_id AND m.claim_token = p_token AND m.status = 'processing'
     AND m.send_started_at IS NULL
  RETURNING m.* INTO r;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM sms_release_reservation(r.batch_id, r.estimated_cost);
  RETURN NEXT r;
END
$$;

-- As 0001, and: a move out of processing or in_doubt to pending or failed gives the
-- reservation back (the provider did not take the message, or it will be claimed again); any
-- move clears `check_after`.
CREATE OR REPLACE FUNCTION sms_transition_message(
  p_id bigint, p_token uuid, p_from text, p_to text, p_changes jsonb, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r sms_batch_messages;
BEGIN
  UPDATE sms_batch_messages m
     SET status = p_to,
         claim_token = NULL,
         lease_expires_at = NULL,
         check_after = NULL,
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
  RETURNING m.* INTO r;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF coalesce(p_from, 'processing') IN ('processing', 'in_doubt')
     AND p_to IN ('pending', 'failed') THEN
    PERFORM sms_release_reservation(r.batch_id, r.estimated_cost);
  END IF;
  RETURN NEXT r;
END
$$;

-- As 0001, and the claims that go back to pending give their reservations back.
CREATE OR REPLACE FUNCTION sms_rescue_expired(p_now timestamptz, p_limit integer)
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
    RETURNING m.id, m.status, m.batch_id, m.estimated_cost),
  g AS (
    SELECT u.batch_id, sum(u.estimated_cost) AS amount
      FROM u WHERE u.status = 'pending' GROUP BY u.batch_id),
  b AS (
    UPDATE sms_batches b
       SET budget_reserved = greatest(b.budget_reserved - g.amount, 0)
      FROM g
     WHERE b.id = g.batch_id AND b.budget IS NOT NULL AND g.amount > 0
    RETURNING 1)
  SELECT u.id, u.status FROM u;
END
$$;

-- Claims a batch's messages for a check with the provider, up to `p_limit`: with `p_pass` > 0,
-- `sent` messages accepted at or before `p_due` that have had fewer than `p_pass` verification
-- passes; with `p_pass` = 0, `in_doubt` messages whose send started at or before `p_due`. Only
-- messages whose `check_after` has passed (or is unset); each gets `check_after = p_now + lease`,
-- so no other worker checks it meanwhile. Returns the messages; `sms_outstanding_checks` counts
-- what is left.
CREATE FUNCTION sms_claim_checks(p_batch_id uuid, p_pass integer, p_due timestamptz,
  p_limit integer, p_lease_ms bigint, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH c AS (
    SELECT m.id
      FROM sms_batch_messages m
     WHERE m.batch_id = p_batch_id
       AND CASE WHEN p_pass > 0
                THEN m.status = 'sent' AND m.verified < p_pass AND m.accepted_at <= p_due
                ELSE m.status = 'in_doubt' AND coalesce(m.send_started_at, m.updated_at) <= p_due
           END
       AND (m.check_after IS NULL OR m.check_after <= p_now)
     ORDER BY m.id
     LIMIT greatest(p_limit, 0)
       FOR UPDATE OF m SKIP LOCKED),
  u AS (
    UPDATE sms_batch_messages m
       SET check_after = p_now + p_lease_ms * interval '1 millisecond'
      FROM c
     WHERE m.id = c.id
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- How many of a batch's messages still need a check of that kind (due or not, leased or not).
CREATE FUNCTION sms_outstanding_checks(p_batch_id uuid, p_pass integer)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT count(*)
    FROM sms_batch_messages m
   WHERE m.batch_id = p_batch_id
     AND CASE WHEN p_pass > 0 THEN m.status = 'sent' AND m.verified < p_pass
              ELSE m.status = 'in_doubt' END
$$;

-- Records a check that left the message in its status (fenced by that status): the passes
-- done (never lowered), the provider's status word, segments and price, and when to check next.
-- `p_changes` keys: verified, provider_status, provider_segments, price, price_currency,
-- check_after (a key absent keeps the value; check_after null clears it).
CREATE FUNCTION sms_record_check(p_id bigint, p_status text, p_changes jsonb, p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH u AS (
    UPDATE sms_batch_messages m
       SET verified = CASE WHEN p_changes ? 'verified'
                           THEN greatest(m.verified, (p_changes ->> 'verified')::integer)
                           ELSE m.verified END,
           verified_at = CASE WHEN p_changes ? 'verified' THEN p_now ELSE m.verified_at END,
           provider_status = CASE WHEN p_changes ? 'provider_status'
                                  THEN p_changes ->> 'provider_status' ELSE m.provider_status END,
           provider_segments = CASE WHEN p_changes ? 'provider_segments'
                                    THEN (p_changes ->> 'provider_segments')::integer
                                    ELSE m.provider_segments END,
           price = CASE WHEN p_changes ? 'price' THEN (p_changes ->> 'price')::numeric
                        ELSE m.price END,
           price_currency = CASE WHEN p_changes ? 'price_currency'
                                 THEN p_changes ->> 'price_currency' ELSE m.price_currency END,
           check_after = CASE WHEN p_changes ? 'check_after'
                              THEN (p_changes ->> 'check_after')::timestamptz
                              ELSE m.check_after END,
           updated_at = p_now
     WHERE m.id = p_id AND m.status = p_status AND p_status IN ('sent', 'in_doubt')
    RETURNING m.*)
  SELECT * FROM u;
END
$$;

-- "Retry the failed": the batch's failed messages whose category may succeed on another try
-- and that the provider never accepted go back to pending as new attempts of the same messages
-- (attempts counted from zero again, due at once). A completed or verifying batch sends again;
-- a cancelled or failed one is refused (no row comes back for it), as is one still preparing.
-- Returns the batch's row and how many messages were requeued.
CREATE FUNCTION sms_requeue_failed(p_batch_id uuid, p_now timestamptz)
RETURNS TABLE (state text, requeued bigint) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  v_state text;
  v_count bigint;
BEGIN
  SELECT b.state INTO v_state FROM sms_batches b WHERE b.id = p_batch_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_state NOT IN ('sending', 'paused', 'verifying', 'completed') THEN
    RETURN QUERY SELECT v_state, -1::bigint;
    RETURN;
  END IF;
  WITH u AS (
    UPDATE sms_batch_messages m
       SET status = 'pending', attempts = 0, run_at = p_now, check_after = NULL,
           send_started_at = NULL, updated_at = p_now
     WHERE m.batch_id = p_batch_id AND m.status = 'failed' AND m.accepted_at IS NULL
       AND sms_category_is_retryable(m.error_category)
    RETURNING 1)
  SELECT count(*) INTO v_count FROM u;
  IF v_count > 0 AND v_state IN ('verifying', 'completed') THEN
    UPDATE sms_batches b
       SET state = 'sending', completed_at = NULL, updated_at = p_now
     WHERE b.id = p_batch_id;
    v_state := 'sending';
  END IF;
  RETURN QUERY SELECT v_state, v_count;
END
$$;
