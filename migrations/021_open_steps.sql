-- 021_open_steps.sql - a running step is kept in its saga row until its
-- reply comes, so that a step of a sequence is one row written once (issue
-- 11, "write less").
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- A step got its row when it started (an INSERT) and had it rewritten when
-- its reply came (an UPDATE, HOT for about half of them): with the saga
-- row's own update, three row versions per step, a quarter of
-- PostgreSQL's statement time in the benchmark (README "Performance").
-- The saga row is rewritten at every transition anyway, so a step that is
-- running and has never had a row of its own (no map state, no early
-- event, no output) is now an "open" step: a small object in the saga
-- row's open_steps array.  When it settles (succeeds, fails, is skipped)
-- it leaves the array and gets its row, inserted once.  A step that has a
-- row keeps it whatever comes after (a retry, a compensation).
--
-- Readers keep what they read: the table becomes saga_step_rows and
-- saga_steps is a view with the columns it had, over the rows and the
-- open steps, plus "open" (true for a step held in its saga row).  Rows
-- already in the table stay as they are, running ones included: nothing
-- is rewritten.  Writers write saga_step_rows (the view is read-only).

ALTER TABLE saga_steps RENAME TO saga_step_rows;
ALTER TABLE saga_step_rows RENAME CONSTRAINT saga_steps_pkey
    TO saga_step_rows_pkey;
COMMENT ON TABLE saga_step_rows IS
  'The steps of every saga that have a row of their own: settled (succeeded, failed, skipped, compensated), compensating, map steps, steps holding an early event, and those that had a row before 021. A running step without one is in sagas.open_steps; the view saga_steps shows both.';

ALTER TABLE sagas ADD COLUMN open_steps jsonb;
COMMENT ON COLUMN sagas.open_steps IS
  'The saga''s open steps: running, with no row in saga_step_rows yet, as [{"step": name, "attempt", "started_ms", "wake_ms", "wake_reason", "last_error", "replies", ...}, ...] (the columns of saga_step_rows, times in ms since the epoch; members that are 0, none or, for status, running left out); NULL for none. The view saga_steps shows them as rows.';

CREATE VIEW saga_steps AS
SELECT r.saga_id, r.step_name, r.step_index, r.status, r.attempt,
       r.attempt_base, r.compensation_attempt, r.compensation_attempt_base,
       r.started_at, r.finished_at, r.wake_at, r.wake_reason,
       r.completed_seq, r.last_error, r.early_event, r.output, r.replies,
       r.map_items, r.map_concurrency, r.map_min_success, r.map_started,
       r.map_succeeded, r.map_failed, r.map_compensated, r.map_last_seq,
       r.map_run, false AS open
  FROM saga_step_rows r
UNION ALL
SELECT s.id, o.e ->> 'step',
       (SELECT (d.n - 1)::int
          FROM saga_definitions sd
         CROSS JOIN LATERAL jsonb_array_elements(
                 CASE WHEN jsonb_typeof(sd.body -> 'steps') = 'array'
                      THEN sd.body -> 'steps' ELSE '[]' END)
               WITH ORDINALITY AS d(def, n)
         WHERE sd.name = s.definition_name
           AND sd.version = s.definition_version
           AND d.def ->> 'name' = o.e ->> 'step'),
       coalesce(o.e ->> 'status', 'running'),
       coalesce((o.e ->> 'attempt')::int, 0),
       coalesce((o.e ->> 'attempt_base')::int, 0),
       coalesce((o.e ->> 'compensation_attempt')::int, 0),
       coalesce((o.e ->> 'compensation_attempt_base')::int, 0),
       to_timestamp((o.e ->> 'started_ms')::bigint / 1000.0),
       to_timestamp((o.e ->> 'finished_ms')::bigint / 1000.0),
       to_timestamp((o.e ->> 'wake_ms')::bigint / 1000.0),
       o.e ->> 'wake_reason', (o.e ->> 'completed_seq')::int,
       o.e ->> 'last_error', NULL::jsonb, NULL::jsonb, o.e -> 'replies',
       NULL::int, NULL::int, NULL::int, NULL::int, NULL::int, NULL::int,
       NULL::int, NULL::int, NULL::int, true
  FROM sagas s
 CROSS JOIN LATERAL jsonb_array_elements(s.open_steps) AS o(e)
 WHERE jsonb_typeof(s.open_steps) = 'array'
   AND jsonb_typeof(o.e) = 'object';
COMMENT ON VIEW saga_steps IS
  'One row per step of every saga that has started (or been skipped, or holds an early event); a step without one is pending. Rows of saga_step_rows and the open steps of sagas.open_steps (open = true).';
COMMENT ON COLUMN saga_steps.status IS 'pending, running, succeeded, failed, skipped, compensating, compensated.';
COMMENT ON COLUMN saga_steps.attempt IS 'Attempt number of the step''s command (1 = first try).';
COMMENT ON COLUMN saga_steps.started_at IS 'When the step started (its first command was decided).';
COMMENT ON COLUMN saga_steps.finished_at IS 'When the step succeeded, failed, was skipped or compensated.';
COMMENT ON COLUMN saga_steps.wake_at IS 'The step''s pending timer, if any; see wake_reason.';
COMMENT ON COLUMN saga_steps.output IS 'The step''s output: the data of the reply or event that completed it (the context''s steps.<name>); NULL until then.';
COMMENT ON COLUMN saga_steps.open IS 'true: a running step held in its saga row (sagas.open_steps) until it settles; false: a row of saga_step_rows.';

-- Operators fix steps in plain SQL as before: the view takes INSERT,
-- UPDATE and DELETE.  A row goes to the table; an open step that is
-- updated leaves its saga row's open_steps for a row of its own (the
-- orchestrator keeps a step that has a row in it), and one deleted
-- leaves it for nothing (the step is pending again).
ALTER VIEW saga_steps ALTER COLUMN status SET DEFAULT 'pending';
ALTER VIEW saga_steps ALTER COLUMN attempt SET DEFAULT 0;
ALTER VIEW saga_steps ALTER COLUMN attempt_base SET DEFAULT 0;
ALTER VIEW saga_steps ALTER COLUMN compensation_attempt SET DEFAULT 0;
ALTER VIEW saga_steps ALTER COLUMN compensation_attempt_base SET DEFAULT 0;
ALTER VIEW saga_steps ALTER COLUMN open SET DEFAULT false;

CREATE FUNCTION saga_steps_write() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.open THEN
        UPDATE sagas s
           SET open_steps = (SELECT jsonb_agg(o.e ORDER BY o.n)
                               FROM jsonb_array_elements(s.open_steps)
                                    WITH ORDINALITY AS o(e, n)
                              WHERE o.e ->> 'step' IS DISTINCT FROM OLD.step_name)
         WHERE s.id = OLD.saga_id AND jsonb_typeof(s.open_steps) = 'array';
    ELSIF TG_OP <> 'INSERT' THEN
        DELETE FROM saga_step_rows
         WHERE saga_id = OLD.saga_id AND step_name = OLD.step_name;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    INSERT INTO saga_step_rows (saga_id, step_name, step_index, status,
        attempt, attempt_base, compensation_attempt,
        compensation_attempt_base, started_at, finished_at, wake_at,
        wake_reason, completed_seq, last_error, early_event, output, replies,
        map_items, map_concurrency, map_min_success, map_started,
        map_succeeded, map_failed, map_compensated, map_last_seq, map_run)
    VALUES (NEW.saga_id, NEW.step_name, NEW.step_index, NEW.status,
        NEW.attempt, NEW.attempt_base, NEW.compensation_attempt,
        NEW.compensation_attempt_base, NEW.started_at, NEW.finished_at,
        NEW.wake_at, NEW.wake_reason, NEW.completed_seq, NEW.last_error,
        NEW.early_event, NEW.output, NEW.replies, NEW.map_items,
        NEW.map_concurrency, NEW.map_min_success, NEW.map_started,
        NEW.map_succeeded, NEW.map_failed, NEW.map_compensated,
        NEW.map_last_seq, NEW.map_run);
    NEW.open := false;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION saga_steps_write() IS
  'Writes through the view saga_steps: rows go to saga_step_rows; an open step updated or deleted leaves sagas.open_steps (updated, it becomes a row).';
CREATE TRIGGER saga_steps_write INSTEAD OF INSERT OR UPDATE OR DELETE
    ON saga_steps FOR EACH ROW EXECUTE FUNCTION saga_steps_write();

-- The views that read the table read the view now (a view names the
-- table it was made on, whatever it is called later).
CREATE OR REPLACE VIEW running_sagas AS
SELECT s.id, s.definition_name, s.definition_version, s.business_key,
       s.status, s.created_at, now() - s.created_at AS age,
       s.updated_at, now() - s.updated_at AS idle_for,
       (SELECT string_agg(st.step_name, ', ' ORDER BY st.step_index)
          FROM saga_steps st
         WHERE st.saga_id = s.id
           AND st.status IN ('running', 'compensating')) AS current_steps,
       s.wake_at, s.deadline_at
FROM sagas s
WHERE s.status IN ('running', 'compensating')
ORDER BY s.created_at;

CREATE OR REPLACE VIEW stuck_sagas AS
SELECT s.id, s.definition_name, s.definition_version, s.business_key,
       s.failing_reason, s.failure,
       c.step_name AS compensating_step,
       c.compensation_attempt,
       c.last_error AS compensation_error,
       s.updated_at AS stuck_since, now() - s.updated_at AS stuck_for,
       s.created_at
FROM sagas s
LEFT JOIN LATERAL (
    SELECT st.step_name, st.compensation_attempt, st.last_error
      FROM saga_steps st
     WHERE st.saga_id = s.id AND st.status = 'compensating'
     ORDER BY st.completed_seq DESC NULLS LAST, st.step_index DESC
     LIMIT 1) c ON true
WHERE s.status = 'stuck'
ORDER BY s.updated_at;

-- Map steps always have a row: map_steps may go on reading the table.

-- A saga's rows go with it: the table, not the view.
CREATE OR REPLACE FUNCTION sagas_delete_rows() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM saga_step_rows WHERE saga_id IN (SELECT id FROM gone);
    DELETE FROM saga_map_items WHERE saga_id IN (SELECT id FROM gone);
    DELETE FROM saga_transitions WHERE saga_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;

-- saga_context() and saga_archive() name saga_steps in their bodies, which
-- are read when they run: they read the view, open steps included.
