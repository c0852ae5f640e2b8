-- 020_history_transitions.sql - one history row per transition, not one
-- per detail (issue 11, "write less").
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- An event applied to a saga is one transition, and it had a history row
-- for each thing it did: a reply to step a wrote step.succeeded for a and
-- step.started for b, 2.7 rows per step in a benchmark of three steps in
-- sequence, each with its heap tuple, its primary-key entry and its WAL
-- records (a quarter of the WAL, README "Performance").  Now a transition
-- is one row of saga_transitions: its headline entry in kind, step_name
-- and detail (the operator action, when it is one, so that the operator
-- index and views still find it; else its first entry) and the others,
-- in order, in more.
--
-- Readers keep what they read: saga_history is now a view with the
-- columns it had, one row per entry, plus n, the entry's place in its
-- transition (0 = the headline); order by (id, n).  What is already in
-- the table stays as it is, a transition of one entry each: the rename
-- and the new column rewrite nothing.  Writers insert into
-- saga_transitions (the view is read-only).

ALTER TABLE saga_history RENAME TO saga_transitions;
ALTER TABLE saga_transitions RENAME CONSTRAINT saga_history_pkey
    TO saga_transitions_pkey;
ALTER INDEX saga_history_operator_idx RENAME TO saga_transitions_operator_idx;
ALTER SEQUENCE saga_history_id_seq RENAME TO saga_transitions_id_seq;
ALTER TABLE saga_transitions ADD COLUMN more jsonb;

COMMENT ON TABLE saga_transitions IS
  'Append-only: one row per transition of a saga (an event, reply, timer or operator action applied to it), with what it did as entries; saga_history has one row per entry.';
COMMENT ON COLUMN saga_transitions.kind IS
  'The headline entry''s kind: the operator action (operator.cancel, ...) when the transition is one, else its first entry''s (saga.started, step.succeeded, ...).';
COMMENT ON COLUMN saga_transitions.step_name IS 'The headline entry''s step, if any.';
COMMENT ON COLUMN saga_transitions.event_id IS 'CloudEvents id of the event that caused the transition, if any.';
COMMENT ON COLUMN saga_transitions.detail IS 'The headline entry''s details as JSON (reply type, error, attempt, reason).';
COMMENT ON COLUMN saga_transitions.more IS
  'The transition''s other entries, in order: [{"kind": ..., "step": ... or null, "detail": {...}}, ...]; NULL for none.';

CREATE VIEW saga_history AS
SELECT t.id, t.saga_id, t.at, t.kind, t.step_name, t.event_id, t.detail,
       0 AS n
  FROM saga_transitions t
UNION ALL
SELECT t.id, t.saga_id, t.at, e.entry ->> 'kind', e.entry ->> 'step',
       t.event_id, e.entry -> 'detail', e.n::int
  FROM saga_transitions t
 CROSS JOIN LATERAL jsonb_array_elements(t.more) WITH ORDINALITY AS e(entry, n)
 WHERE t.more IS NOT NULL;
COMMENT ON VIEW saga_history IS
  'Timeline of every event, transition and operator action of every saga, one row per entry of saga_transitions; in order by (id, n).';
COMMENT ON COLUMN saga_history.id IS 'The transition''s id (saga_transitions.id); its entries share it.';
COMMENT ON COLUMN saga_history.kind IS 'What happened, e.g. saga.started, step.succeeded, compensation.started, reply.ignored, operator.cancel.';
COMMENT ON COLUMN saga_history.step_name IS 'The step concerned, if any.';
COMMENT ON COLUMN saga_history.event_id IS 'CloudEvents id of the event that caused it, if any.';
COMMENT ON COLUMN saga_history.detail IS 'Details as JSON (reply type, error, attempt, reason).';
COMMENT ON COLUMN saga_history.n IS 'The entry''s place in its transition: 0 = the headline, then 1, 2, ... in the order they happened.';

-- saga_timeline read the table; it reads every entry now.
CREATE OR REPLACE VIEW saga_timeline AS
SELECT h.saga_id, s.definition_name, s.business_key, h.at, h.kind,
       h.step_name, h.event_id, h.detail, h.id
FROM saga_history h
JOIN sagas s ON s.id = h.saga_id
ORDER BY h.saga_id, h.id, h.n;

-- paused_sagas and operator_actions read operator actions, which are the
-- headline of their transition: they read saga_transitions (renamed
-- under them) and keep its index.

CREATE OR REPLACE FUNCTION sagas_delete_rows() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM saga_steps WHERE saga_id IN (SELECT id FROM gone);
    DELETE FROM saga_map_items WHERE saga_id IN (SELECT id FROM gone);
    DELETE FROM saga_transitions WHERE saga_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION saga_history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'saga_transitions is append-only'
        USING HINT = 'Rows are removed only with their saga.';
END $$;

CREATE OR REPLACE FUNCTION saga_archive(s sagas) RETURNS jsonb
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT jsonb_build_object(
        'saga', to_jsonb(s),
        'steps', coalesce((SELECT jsonb_agg(to_jsonb(st) ORDER BY st.step_index)
                             FROM saga_steps st WHERE st.saga_id = s.id), '[]'),
        'map_items', coalesce((SELECT jsonb_agg(to_jsonb(i) ORDER BY i.step_name, i.item_index)
                                 FROM saga_map_items i WHERE i.saga_id = s.id), '[]'),
        'history', coalesce((SELECT jsonb_agg(to_jsonb(h) - 'n' ORDER BY h.id, h.n)
                               FROM saga_history h WHERE h.saga_id = s.id), '[]'))
$$;
