-- 0005_queue_plans: the queue's statements keep cheap plans while a batch drains.
--
-- 1. Every fenced update finds its messages by primary key. 0001's rescue index was partial on
--    `status = 'processing'`, which every claim-token fence also says. A generic plan, costed
--    when few messages were processing, scanned that index (with the dead entries every claim
--    leaves in it) instead of the primary key, so each send start and outcome paid a scan of
--    every claim in flight. The index is now partial on `lease_expires_at IS NOT NULL` (a
--    message has a lease exactly while it is processing: constraint
--    sms_batch_messages_leased), which the rescue's `lease_expires_at < p_now` implies and no
--    fence does. The rescue says `lease_expires_at IS NOT NULL` itself: a generic plan does
--    not infer it from a comparison with a parameter.
-- 2. A claim of one batch plans on that batch's queue index: `p_batch_id IS NULL OR batch_id =
--    p_batch_id` planned once for both cases, and scanned the queue of every batch. A claim can
--    start where the claimer's last one ended, and can record the sends as started (three new
--    parameters with defaults).
-- 3. Many moves are one update joined to their list, not one function call each; reservations
--    go back per batch in the same statement.
-- 4. Fewer index entries per move (below).
--
-- Results are unchanged, and so are signatures but the claim's three new trailing parameters,
-- which have defaults (PostgREST callers that do not name them see the same function).
--
-- The index changes lock sms_batch_messages while the rescue index is rebuilt: apply this with
-- no worker running.

DROP INDEX sms_batch_messages_lease_idx;
CREATE INDEX sms_batch_messages_lease_idx ON sms_batch_messages (lease_expires_at)
  WHERE lease_expires_at IS NOT NULL;

-- As 0002 (budget reservation, the first message that does not fit pauses its batch), with a
-- statement per case, and where to start: with `p_after_run_at` and `p_after_id`, only messages
-- after that one in the queue's order (run_at, then id). A claimer passes where its last claim
-- ended: the queue index keeps an entry for every message claimed until vacuum removes it, and
-- a claim from the head of a large batch would step over all of them. (Without them the
-- comparison is with '-infinity', which every due message follows.) The update needs no status
-- condition: the rows are locked by this transaction since the select found them pending.
--
-- With `p_start`, the claimed messages' sends are recorded as started (`send_started_at =
-- p_now`) in the same write: for a claimer that calls the provider at once, with nothing (a
-- rate limit, a send window) that could hold a message back in between. Such a claim that
-- expires leaves its messages in doubt, never pending.
DROP FUNCTION sms_claim_messages(uuid, integer, uuid, bigint, timestamptz);
CREATE FUNCTION sms_claim_messages(
  p_batch_id uuid, p_limit integer, p_token uuid, p_lease_ms bigint, p_now timestamptz,
  p_after_run_at timestamptz DEFAULT NULL, p_after_id bigint DEFAULT NULL,
  p_start boolean DEFAULT false)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  c record;
  found_rows refcursor;
  v_admit bigint[] := '{}';
  v_full uuid[] := '{}';
BEGIN
  IF p_batch_id IS NULL THEN
    OPEN found_rows FOR
      SELECT m.id, m.batch_id, m.estimated_cost, (b.budget IS NOT NULL) AS budgeted
        FROM sms_batch_messages m
        JOIN sms_batches b ON b.id = m.batch_id AND b.state = 'sending'
       WHERE m.status = 'pending' AND m.run_at <= p_now
         AND (m.run_at, m.id) > (coalesce(p_after_run_at, '-infinity'), coalesce(p_after_id, 0))
       ORDER BY m.run_at, m.id
       LIMIT greatest(p_limit, 0)
         FOR UPDATE OF m SKIP LOCKED;
  ELSE
    OPEN found_rows FOR
      SELECT m.id, m.batch_id, m.estimated_cost, (b.budget IS NOT NULL) AS budgeted
        FROM sms_batch_messages m
        JOIN sms_batches b ON b.id = m.batch_id AND b.state = 'sending'
       WHERE m.batch_id = p_batch_id AND m.status = 'pending' AND m.run_at <= p_now
         AND (m.run_at, m.id) > (coalesce(p_after_run_at, '-infinity'), coalesce(p_after_id, 0))
       ORDER BY m.run_at, m.id
       LIMIT greatest(p_limit, 0)
         FOR UPDATE OF m SKIP LOCKED;
  END IF;
  LOOP
    FETCH found_rows INTO c;
    EXIT WHEN NOT FOUND;
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
  CLOSE found_rows;
  RETURN QUERY
  UPDATE sms_batch_messages m
     SET status = 'processing',
         claim_token = p_token,
         claimed_at = p_now,
         lease_expires_at = p_now + p_lease_ms * interval '1 millisecond',
         send_started_at = CASE WHEN p_start THEN p_now END,
         attempts = m.attempts + 1,
         updated_at = p_now
   WHERE m.id = ANY (v_admit)
  RETURNING m.*;
END
$$;

-- As sms_transition_message for each entry (same fences, same changes, the same reservations
-- given back), in one update. Ids must be distinct. Returns the messages that moved.
CREATE OR REPLACE FUNCTION sms_transition_messages(
  p_ids bigint[], p_tokens uuid[], p_froms text[], p_tos text[], p_changes jsonb[],
  p_now timestamptz)
RETURNS SETOF sms_batch_messages LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN QUERY
  WITH x AS (
    SELECT * FROM unnest(p_ids, p_tokens, p_froms, p_tos, p_changes)
                  AS x(id, token, from_status, to_status, changes)),
  u AS (
    UPDATE sms_batch_messages m
       SET status = x.to_status,
           claim_token = NULL,
           lease_expires_at = NULL,
           check_after = NULL,
           run_at = CASE WHEN x.changes ? 'run_at' THEN (x.changes ->> 'run_at')::timestamptz
                         ELSE m.run_at END,
           provider_id = CASE WHEN x.changes ? 'provider_id' THEN x.changes ->> 'provider_id'
                              ELSE m.provider_id END,
           provider_status = CASE WHEN x.changes ? 'provider_status'
                                  THEN x.changes ->> 'provider_status' ELSE m.provider_status END,
           provider_segments = CASE WHEN x.changes ? 'provider_segments'
                                    THEN (x.changes ->> 'provider_segments')::integer
                                    ELSE m.provider_segments END,
           error_category = CASE WHEN x.changes ? 'error_category'
                                 THEN x.changes ->> 'error_category' ELSE m.error_category END,
           error_code = CASE WHEN x.changes ? 'error_code' THEN x.changes ->> 'error_code'
                             ELSE m.error_code END,
           error_message = CASE WHEN x.changes ? 'error_message'
                                THEN x.changes ->> 'error_message' ELSE m.error_message END,
           price = CASE WHEN x.changes ? 'price' THEN (x.changes ->> 'price')::numeric
                        ELSE m.price END,
           price_currency = CASE WHEN x.changes ? 'price_currency'
                                 THEN x.changes ->> 'price_currency' ELSE m.price_currency END,
           accepted_at = CASE WHEN x.to_status IN ('sent', 'delivered', 'undelivered')
                              THEN coalesce(m.accepted_at, p_now) ELSE m.accepted_at END,
           delivered_at = CASE WHEN x.to_status = 'delivered'
                               THEN coalesce(m.delivered_at, p_now) ELSE m.delivered_at END,
           updated_at = p_now
      FROM x
     WHERE m.id = x.id
       AND x.to_status <> 'processing'
       AND CASE WHEN x.token IS NULL THEN m.status = x.from_status
                ELSE m.claim_token = x.token AND m.status = 'processing' END
       AND sms_message_can_become(m.status, x.to_status)
    RETURNING m AS moved, x.from_status),
  given_back AS (
    SELECT (u.moved).batch_id AS batch_id, sum((u.moved).estimated_cost) AS amount
      FROM u
     WHERE coalesce(u.from_status, 'processing') IN ('processing', 'in_doubt')
       AND (u.moved).status IN ('pending', 'failed')
     GROUP BY 1),
  released AS (
    UPDATE sms_batches b
       SET budget_reserved = greatest(b.budget_reserved - g.amount, 0)
      FROM given_back g
     WHERE b.id = g.batch_id AND b.budget IS NOT NULL AND g.amount > 0
    RETURNING 1)
  SELECT (u.moved).* FROM u;
END
$$;

-- As 0002, on the lease index.
CREATE OR REPLACE FUNCTION sms_rescue_expired(p_now timestamptz, p_limit integer)
RETURNS TABLE (id bigint, status text) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH r AS (
    SELECT m.id
      FROM sms_batch_messages m
     WHERE m.lease_expires_at IS NOT NULL AND m.lease_expires_at < p_now
       AND m.status = 'processing'
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

-- Fewer index entries per move. A message is written three times while it is sent (claim, send
-- start, outcome). Free room in each page lets the send start, which changes no indexed column,
-- stay on its page without new index entries (a HOT update); pages written before this keep
-- their old fill. The (batch_id, status) index gained an entry at every status change and
-- served the count by status, which the (batch_id, id) index serves as well (what is lost is
-- an index-only count of a settled batch whose pages are all visible).
ALTER TABLE sms_batch_messages SET (fillfactor = 70);
DROP INDEX sms_batch_messages_status_idx;
