-- 010_housekeeping.sql - what makes retention cheap, and what shows it:
-- the indexes the housekeeping deletes walk, the archive of a saga, and
-- views of what takes space and what is due.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- Housekeeping (run/housekeeping.c, store/store_housekeeping.c) deletes in
-- bounded batches: finished sagas older than their definition's retention
-- (with their steps and history, by the trigger of 007), inbox ids older
-- than inbox_ttl, dead letters older than dead_letter_retention.  Each
-- batch finds its rows through one of the indexes below and locks them
-- FOR UPDATE SKIP LOCKED, so several processes share the work and none
-- waits for another.  What each costs the hot path:
--
--   * sagas_finished_idx is partial: only sagas in a final status are in
--     it, and a saga enters it once, in the transaction that finishes it
--     (status and finished_at change then anyway, and status is already
--     in sagas_unfinished_idx's predicate, so no update that stayed HOT
--     stops being HOT).  Running sagas pay nothing.  Stuck sagas are not
--     final: an operator must act on them, and they are never deleted.
--   * inbox_received_at_idx: one more index entry per claimed inbox id
--     (triggers and correlated events; replies have no inbox row, 009).
--   * dead_letters_created_at_idx: dead letters are rare.
--
-- duration_interval() reads the definition language's durations, so that
-- SQL knows a definition's "retention" as the orchestrator does.

CREATE INDEX sagas_finished_idx ON sagas (definition_name, finished_at)
    WHERE status IN ('completed', 'compensated', 'failed', 'cancelled', 'timed_out');
COMMENT ON INDEX sagas_finished_idx IS
  'Finished sagas by definition and finish time: what retention deletes, oldest first.';
CREATE INDEX inbox_received_at_idx ON inbox (received_at);
COMMENT ON INDEX inbox_received_at_idx IS
  'Inbox ids by age: what inbox_ttl expires.';
CREATE INDEX dead_letters_created_at_idx ON dead_letters (created_at);
COMMENT ON INDEX dead_letters_created_at_idx IS
  'Dead letters by age: what dead_letter_retention expires.';
COMMENT ON COLUMN inbox.received_at IS
  'When the event was applied; the id is deleted inbox_ttl later, after which a redelivery of the event would be applied again.';
COMMENT ON COLUMN dead_letters.created_at IS
  'When the event was dead-lettered; the row is deleted dead_letter_retention later.';

CREATE FUNCTION duration_interval(d text) RETURNS interval
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN d ~ '^([0-9]+(ms|s|m|h|d))+$' THEN
        (SELECT sum(m[1]::bigint * CASE m[2] WHEN 'ms' THEN 1 WHEN 's' THEN 1000
                    WHEN 'm' THEN 60000 WHEN 'h' THEN 3600000 ELSE 86400000 END)
           FROM regexp_matches(d, '([0-9]+)(ms|s|m|h|d)', 'g') AS m)
        * interval '1 millisecond'
    END
$$;
COMMENT ON FUNCTION duration_interval(text) IS
  'A duration of the definition language ("250ms", "1h30m", "30d") as an interval; NULL when it is not one.';

-- What one saga looked like, whole: the archive of a deleted saga.
CREATE FUNCTION saga_archive(s sagas) RETURNS jsonb
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT jsonb_build_object(
        'saga', to_jsonb(s),
        'steps', coalesce((SELECT jsonb_agg(to_jsonb(st) ORDER BY st.step_index)
                             FROM saga_steps st WHERE st.saga_id = s.id), '[]'),
        'history', coalesce((SELECT jsonb_agg(to_jsonb(h) ORDER BY h.id)
                               FROM saga_history h WHERE h.saga_id = s.id), '[]'))
$$;
COMMENT ON FUNCTION saga_archive(sagas) IS
  'A saga as the data of its saga.archived event: {"saga": its row, "steps": its step rows by step_index, "history": its history rows in order}, each row with its column names.';

-- Retention per definition name: the latest version's "retention", else
-- the default given.  NULL or zero default: kept forever.
CREATE FUNCTION saga_retention(default_retention interval DEFAULT interval '30 days')
RETURNS TABLE (definition_name text, retention interval)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT DISTINCT ON (d.name) d.name,
           coalesce(duration_interval(d.body ->> 'retention'),
                    nullif(default_retention, interval '0'))
      FROM saga_definitions d
     ORDER BY d.name, d.version DESC
$$;
COMMENT ON FUNCTION saga_retention(interval) IS
  'Each definition name with the retention of its finished sagas: its latest version''s "retention", else default_retention (the retention setting, 30 days unless changed; NULL or 0: forever).';

CREATE FUNCTION housekeeping_due(
    retention interval DEFAULT interval '30 days',
    inbox_ttl interval DEFAULT interval '7 days',
    dead_letter_retention interval DEFAULT interval '30 days')
RETURNS TABLE (kind text, definition_name text, keep interval, due bigint,
               oldest timestamptz)
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT 'sagas', r.definition_name, r.retention,
           (SELECT count(*) FROM sagas s
             WHERE s.definition_name = r.definition_name
               AND s.status IN ('completed', 'compensated', 'failed', 'cancelled', 'timed_out')
               AND s.finished_at < now() - r.retention),
           (SELECT min(s.finished_at) FROM sagas s
             WHERE s.definition_name = r.definition_name
               AND s.status IN ('completed', 'compensated', 'failed', 'cancelled', 'timed_out'))
      FROM saga_retention(retention) r
    UNION ALL
    SELECT 'inbox', NULL, inbox_ttl,
           (SELECT count(*) FROM inbox WHERE received_at < now() - inbox_ttl),
           (SELECT min(received_at) FROM inbox)
    UNION ALL
    SELECT 'dead_letters', NULL, nullif(dead_letter_retention, interval '0'),
           (SELECT count(*) FROM dead_letters
             WHERE created_at < now() - nullif(dead_letter_retention, interval '0')),
           (SELECT min(created_at) FROM dead_letters)
$$;
COMMENT ON FUNCTION housekeeping_due(interval, interval, interval) IS
  'What housekeeping would delete now with these settings (defaults: the settings'' defaults): per kind (sagas per definition, inbox, dead_letters) how long rows are kept (NULL: forever), how many are due, and the oldest row''s time (finished_at, received_at, created_at). SELECT * FROM housekeeping_due(''7 days'').';

CREATE VIEW storage_usage AS
SELECT c.relname AS table_name,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS rows_estimate,
       pg_total_relation_size(c.oid) AS total_bytes,
       pg_relation_size(c.oid) AS table_bytes,
       pg_indexes_size(c.oid) AS index_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size,
       CASE c.relname
           WHEN 'sagas' THEN (SELECT min(finished_at) FROM sagas
                               WHERE status IN ('completed', 'compensated', 'failed',
                                                'cancelled', 'timed_out'))
           WHEN 'inbox' THEN (SELECT min(received_at) FROM inbox)
           WHEN 'dead_letters' THEN (SELECT min(created_at) FROM dead_letters)
           WHEN 'outbox' THEN (SELECT min(created_at) FROM outbox)
       END AS oldest,
       CASE c.relname
           WHEN 'sagas' THEN (SELECT sum(due)::bigint FROM housekeeping_due() WHERE kind = 'sagas')
           WHEN 'inbox' THEN (SELECT due FROM housekeeping_due() WHERE kind = 'inbox')
           WHEN 'dead_letters' THEN (SELECT due FROM housekeeping_due() WHERE kind = 'dead_letters')
       END AS due_default
  FROM pg_class c
 WHERE c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'sagas'::regclass)
   AND c.relkind IN ('r', 'p')
 ORDER BY pg_total_relation_size(c.oid) DESC;
COMMENT ON VIEW storage_usage IS
  'What takes space: each table of the orchestrator''s schema, largest first, with its rows (the planner''s estimate), bytes, the oldest row housekeeping looks at, and the rows due under the default settings (housekeeping_due(...) for others).';
COMMENT ON COLUMN storage_usage.table_name IS 'Table of the orchestrator''s schema.';
COMMENT ON COLUMN storage_usage.rows_estimate IS 'Rows as of the last (auto)vacuum or analyze (pg_class.reltuples); NULL before the first.';
COMMENT ON COLUMN storage_usage.total_bytes IS 'Table, indexes and TOAST (pg_total_relation_size).';
COMMENT ON COLUMN storage_usage.table_bytes IS 'The table''s main fork alone (pg_relation_size).';
COMMENT ON COLUMN storage_usage.index_bytes IS 'Its indexes (pg_indexes_size).';
COMMENT ON COLUMN storage_usage.total_size IS 'total_bytes for people.';
COMMENT ON COLUMN storage_usage.oldest IS 'sagas: the oldest finished_at of a finished saga; inbox: the oldest received_at; dead_letters and outbox: the oldest created_at; NULL otherwise or when empty.';
COMMENT ON COLUMN storage_usage.due_default IS 'Rows housekeeping would delete now under the default settings (retention 30d, inbox_ttl 7d, dead_letter_retention 30d) and each definition''s "retention"; NULL for tables it does not clean.';
