-- 007_hot_path.sql - write less per step: step outputs in their step rows,
-- saga and step updates that stay HOT, no per-row foreign key checks.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- Measured with tests/bench (scenario a, 3 steps in sequence), every
-- transition rewrote the saga row with its whole context (input plus every
-- reply so far) as a non-HOT update: a new tuple and a new entry in each of
-- the table's five indexes, about 2.3 KB of WAL per step, more than any
-- other table.  What changes here:
--
--   * A step's output (the reply or event data, "steps.<name>" of the
--     context) moves to saga_steps.output, written with the step's status,
--     which changes anyway.  sagas.context keeps what no step changes: the
--     input.  "saga" (id, key, name, version) is rebuilt from the columns.
--     The function saga_context() and the view saga_contexts give the whole
--     context back, as the engine sees it.
--   * A step gets its row when the engine first changes it (starts it,
--     skips it, keeps an early event for it), not as a pending row when
--     its saga starts: a step without a row is pending.  A saga of ten
--     steps that fails at the second writes two step rows, not ten.
--   * sagas_unfinished_idx indexed updated_at, which every transition
--     changes, so no saga update could be HOT; it now indexes created_at.
--   * fillfactor 70 leaves room on each page for the new versions of its
--     rows, which a HOT update must find on the same page.
--   * saga_steps and saga_history referenced sagas with a foreign key, so
--     every inserted row ran a check query under a row lock.  The
--     orchestrator writes a saga and its rows in one transaction; the
--     foreign keys go, and a statement trigger keeps what ON DELETE CASCADE
--     did: deleting sagas deletes their steps and history.
--
-- The orchestrator also keeps a saga's wake_at when the new one is at most
-- a second later (store_saga.c, LAZY_WAKE), so that the index on it does
-- not make every update non-HOT; wake_at may thus be up to a second
-- earlier than the saga's earliest timer, never later.

COMMENT ON TABLE saga_steps IS
  'One row per step of every saga that has started (or been skipped, or holds an early event); a step without a row is pending.';

ALTER TABLE saga_steps ADD COLUMN output jsonb;
COMMENT ON COLUMN saga_steps.output IS
  'The step''s output: the data of the reply or event that completed it (the context''s steps.<name>); NULL until then.';

UPDATE saga_steps st
   SET output = s.context -> 'steps' -> st.step_name
  FROM sagas s
 WHERE s.id = st.saga_id
   AND jsonb_typeof(s.context -> 'steps') = 'object'
   AND s.context -> 'steps' ? st.step_name;
UPDATE sagas SET context = context - 'steps' - 'saga'
 WHERE jsonb_typeof(context) = 'object' AND (context ? 'steps' OR context ? 'saga');
COMMENT ON COLUMN sagas.context IS
  'What of the saga context no step changes: input (the trigger data). Step outputs are in saga_steps.output; saga_context(s) or the view saga_contexts gives the whole context.';
COMMENT ON COLUMN sagas.wake_at IS
  'When the saga next wakes (step timeout, retry, delay, wait, saga deadline): at or up to a second before its earliest pending timer; NULL when none.';

-- Functions name their tables unqualified and take the schema they were
-- made in (SET search_path FROM CURRENT), whatever the caller's path.
CREATE FUNCTION saga_context(s sagas) RETURNS jsonb
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT (s.context - 'steps' - 'saga')
           || jsonb_build_object(
                'steps', coalesce(CASE WHEN jsonb_typeof(s.context -> 'steps') = 'object'
                                       THEN s.context -> 'steps' END, '{}'::jsonb)
                         || coalesce((SELECT jsonb_object_agg(st.step_name, st.output)
                                        FROM saga_steps st
                                       WHERE st.saga_id = s.id AND st.output IS NOT NULL),
                                     '{}'::jsonb),
                'saga', jsonb_build_object('id', s.id, 'key', s.business_key,
                                           'name', s.definition_name,
                                           'version', s.definition_version))
$$;
COMMENT ON FUNCTION saga_context(sagas) IS
  'The whole context of a saga as its steps see it: input, steps.<name> (each step''s output), saga (id, key, name, version). SELECT saga_context(s) FROM sagas s WHERE ...';

CREATE VIEW saga_contexts AS
SELECT s.id, s.definition_name, s.business_key, s.status, saga_context(s) AS context
  FROM sagas s;
COMMENT ON VIEW saga_contexts IS
  'Each saga''s whole context (input, steps.<name>, saga), assembled from the saga row and its step rows.';
COMMENT ON COLUMN saga_contexts.id IS 'Saga id.';
COMMENT ON COLUMN saga_contexts.definition_name IS 'Name of the definition the saga runs.';
COMMENT ON COLUMN saga_contexts.business_key IS 'Business key (e.g. the order id).';
COMMENT ON COLUMN saga_contexts.status IS 'The saga''s status.';
COMMENT ON COLUMN saga_contexts.context IS 'The context as the engine sees it; ${/steps/<name>/...} in a definition points into it.';

DROP INDEX sagas_unfinished_idx;
CREATE INDEX sagas_unfinished_idx ON sagas (status, created_at)
    WHERE status IN ('running', 'compensating', 'stuck');

ALTER TABLE sagas SET (fillfactor = 70);
ALTER TABLE saga_steps SET (fillfactor = 70);

ALTER TABLE saga_steps DROP CONSTRAINT saga_steps_saga_id_fkey;
ALTER TABLE saga_history DROP CONSTRAINT saga_history_saga_id_fkey;

CREATE FUNCTION sagas_delete_rows() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM saga_steps WHERE saga_id IN (SELECT id FROM gone);
    DELETE FROM saga_history WHERE saga_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION sagas_delete_rows() IS
  'Deletes the step and history rows of deleted sagas (what ON DELETE CASCADE did before 007).';
CREATE TRIGGER sagas_delete_rows AFTER DELETE ON sagas
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION sagas_delete_rows();
