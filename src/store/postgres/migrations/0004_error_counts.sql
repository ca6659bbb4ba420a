-- A batch's messages counted per error category, by the database: the progress's error counts
-- come from here, so failures recorded by several workers at once all count (a count merged
-- into the progress document by each worker could lose one worker's update to another's).

CREATE FUNCTION sms_count_messages_by_error_category(p_batch_id uuid)
RETURNS TABLE (error_category text, n bigint) LANGUAGE sql STABLE AS $$
  SELECT m.error_category, count(*) FROM sms_batch_messages m
   WHERE m.batch_id = p_batch_id AND m.error_category IS NOT NULL
   GROUP BY m.error_category
$$;

-- Users call it through PostgREST (row-level security applies: it runs as the caller); the
-- anonymous role does not.
REVOKE EXECUTE ON FUNCTION sms_count_messages_by_error_category(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION sms_count_messages_by_error_category(uuid) TO authenticated, service_role;
