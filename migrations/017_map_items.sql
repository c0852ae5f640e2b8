-- 017_map_items.sql - map steps: one row per item.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- A map step runs its command once per item of an array (README, "Map").
-- Its step row keeps the counters (how many items, started, succeeded,
-- failed, compensated), so that a reply loads only the items in flight
-- and a map of 10,000 items is never one growing JSON value.  Each item
-- that started has a row here with its own status, attempts, timer, error
-- and reply data; the map's result (the items' data in input order) is
-- written to the step's output once, when it succeeds.  An operator
-- retry that reruns a map deletes the rows of the run before.

ALTER TABLE saga_steps
    ADD COLUMN map_items integer,
    ADD COLUMN map_concurrency integer,
    ADD COLUMN map_min_success integer,
    ADD COLUMN map_started integer,
    ADD COLUMN map_succeeded integer,
    ADD COLUMN map_failed integer,
    ADD COLUMN map_compensated integer,
    ADD COLUMN map_last_seq integer,
    ADD COLUMN map_run integer;
COMMENT ON COLUMN saga_steps.map_items IS 'A started map step: the size of its items array when it started (NULL for other steps).';
COMMENT ON COLUMN saga_steps.map_concurrency IS 'Items in flight at most (from the definition or the context).';
COMMENT ON COLUMN saga_steps.map_min_success IS 'Items that must succeed for the map to succeed.';
COMMENT ON COLUMN saga_steps.map_started IS 'Items started so far: items 0 .. map_started-1 have a row in saga_map_items.';
COMMENT ON COLUMN saga_steps.map_succeeded IS 'Items that succeeded (compensated or not).';
COMMENT ON COLUMN saga_steps.map_failed IS 'Items that failed for good.';
COMMENT ON COLUMN saga_steps.map_compensated IS 'Succeeded items since compensated.';
COMMENT ON COLUMN saga_steps.map_last_seq IS 'The latest completion order among its items: where the map stands in the saga''s compensation.';
COMMENT ON COLUMN saga_steps.map_run IS '1, or how many times an operator retry has rerun the map (its item message ids say #run from 2 on).';

CREATE TABLE saga_map_items (
    saga_id              uuid        NOT NULL,
    step_name            text        NOT NULL,
    item_index           integer     NOT NULL,
    status               text        NOT NULL CHECK (status IN ('running',
                             'succeeded', 'failed', 'compensating',
                             'compensated')),
    attempt              integer     NOT NULL DEFAULT 0,
    attempt_base         integer     NOT NULL DEFAULT 0,
    compensation_attempt integer     NOT NULL DEFAULT 0,
    compensation_attempt_base integer NOT NULL DEFAULT 0,
    started_at           timestamptz,
    finished_at          timestamptz,
    wake_at              timestamptz,
    wake_reason          text,
    completed_seq        integer,
    last_error           text,
    output               jsonb,
    replies              jsonb,
    PRIMARY KEY (saga_id, step_name, item_index)
);
COMMENT ON TABLE saga_map_items IS
  'One row per started item of a map step: its command''s sagastep is "<step_name>[<item_index>]".';
COMMENT ON COLUMN saga_map_items.item_index IS 'Position of the item in the map''s items array (0-based).';
COMMENT ON COLUMN saga_map_items.status IS 'running (also while a retry waits), succeeded, failed, compensating, compensated.';
COMMENT ON COLUMN saga_map_items.attempt IS 'Attempt number of the item''s command (1 = first try).';
COMMENT ON COLUMN saga_map_items.wake_at IS 'The item''s pending timer, if any; see wake_reason (timeout, retry, comp_timeout, comp_retry).';
COMMENT ON COLUMN saga_map_items.completed_seq IS 'Order in which the item succeeded among the saga''s completions; its compensation runs in reverse.';
COMMENT ON COLUMN saga_map_items.output IS 'The data of the item''s success reply.';
COMMENT ON COLUMN saga_map_items.replies IS 'Dedup ids of the replies the item took (at most 16, oldest first).';

-- No foreign key, as for saga_steps (007): the orchestrator writes a saga
-- and its items in one transaction, and deleting sagas deletes them.
CREATE OR REPLACE FUNCTION sagas_delete_rows() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM saga_steps WHERE saga_id IN (SELECT id FROM gone);
    DELETE FROM saga_map_items WHERE saga_id IN (SELECT id FROM gone);
    DELETE FROM saga_history WHERE saga_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
COMMENT ON FUNCTION sagas_delete_rows() IS
  'Deletes the step, map item and history rows of deleted sagas (what ON DELETE CASCADE did before 007).';

-- what a reply or a timer loads: the items in flight ...
CREATE INDEX saga_map_items_in_flight_idx ON saga_map_items (saga_id, step_name)
    WHERE status IN ('running', 'compensating');
-- ... and, while the saga compensates, the succeeded ones latest first
CREATE INDEX saga_map_items_undo_idx ON saga_map_items (saga_id, step_name, completed_seq)
    WHERE status = 'succeeded';

CREATE VIEW map_steps AS
SELECT s.saga_id, g.definition_name, g.business_key, g.status AS saga_status,
       s.step_name, s.status, s.map_items AS items,
       s.map_concurrency AS concurrency, s.map_min_success AS min_success,
       s.map_started AS started,
       s.map_started - s.map_succeeded - s.map_failed AS in_flight,
       s.map_succeeded AS succeeded, s.map_failed AS failed,
       s.map_compensated AS compensated, s.map_run AS run,
       s.started_at, s.finished_at
FROM saga_steps s JOIN sagas g ON g.id = s.saga_id
WHERE s.map_items IS NOT NULL;
COMMENT ON VIEW map_steps IS
  'Each started map step: how far its items are (in_flight = started and not finished).';

-- an archived saga carries its map items too
CREATE OR REPLACE FUNCTION saga_archive(s sagas) RETURNS jsonb
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT jsonb_build_object(
        'saga', to_jsonb(s),
        'steps', coalesce((SELECT jsonb_agg(to_jsonb(st) ORDER BY st.step_index)
                             FROM saga_steps st WHERE st.saga_id = s.id), '[]'),
        'map_items', coalesce((SELECT jsonb_agg(to_jsonb(i) ORDER BY i.step_name, i.item_index)
                                 FROM saga_map_items i WHERE i.saga_id = s.id), '[]'),
        'history', coalesce((SELECT jsonb_agg(to_jsonb(h) ORDER BY h.id)
                               FROM saga_history h WHERE h.saga_id = s.id), '[]'))
$$;
COMMENT ON FUNCTION saga_archive(sagas) IS
  'A saga as the data of its saga.archived event: {"saga": its row, "steps": its step rows by step_index, "map_items": its map items by step and index, "history": its history rows in order}, each row with its column names.';
