-- 012_key_reuse.sql - one business key, several sagas over time.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- Until now a business key could start a saga of a definition once in the
-- life of the database: sagas had UNIQUE (definition_name, business_key).
-- A trigger's "key_reuse" policy (after_finish, after_failure) now lets a
-- key start a new saga once its last one has ended.  What must hold
-- whatever the policy, and whatever a process or a person does, is that a
-- key has at most one saga that is not over (running, compensating or
-- stuck): awaited events and triggers for the key go to that one.  The
-- database enforces it with a partial unique index, so two processes that
-- race to start a saga for one key cannot both commit, and an operator
-- retry of a failed saga is refused while a newer saga holds its key.
--
-- The two partial indexes split what the unique constraint indexed: every
-- row version is in exactly one of them, so a write costs what it did.
-- status is already indexed (sagas_unfinished_idx), so a status change in
-- their predicates costs no HOT update that was possible.

ALTER TABLE sagas DROP CONSTRAINT sagas_definition_name_business_key_key;

CREATE UNIQUE INDEX sagas_open_key_idx ON sagas (definition_name, business_key)
    WHERE status IN ('running', 'compensating', 'stuck');
COMMENT ON INDEX sagas_open_key_idx IS
  'At most one saga that is not over (running, compensating, stuck) per definition and business key.';

CREATE INDEX sagas_ended_key_idx ON sagas (definition_name, business_key, created_at)
    WHERE status NOT IN ('running', 'compensating', 'stuck');
COMMENT ON INDEX sagas_ended_key_idx IS
  'The sagas of a business key that are over, oldest first: when the key has no open saga, the newest of these decides whether a trigger may start another (key_reuse).';

COMMENT ON COLUMN sagas.business_key IS
  'Business key taken from the trigger event (e.g. the order id). A key has at most one saga that is not over per definition; with the trigger''s key_reuse policy it may have had earlier ones.';

CREATE VIEW business_keys AS
SELECT definition_name, business_key,
       (array_agg(id ORDER BY created_at DESC, id DESC))[1] AS latest_saga_id,
       (array_agg(status ORDER BY created_at DESC, id DESC))[1] AS latest_status,
       count(*) AS sagas,
       (array_agg(id ORDER BY created_at DESC, id DESC))[2:] AS earlier_saga_ids,
       min(created_at) AS first_started_at,
       max(created_at) AS last_started_at
  FROM sagas
 GROUP BY definition_name, business_key;
COMMENT ON VIEW business_keys IS
  'One row per definition and business key: its latest saga and the earlier ones, newest first. Filter on business_key.';
COMMENT ON COLUMN business_keys.latest_saga_id IS 'The newest saga of the key: the one its events go to while it is not over.';
COMMENT ON COLUMN business_keys.latest_status IS 'Status of the newest saga.';
COMMENT ON COLUMN business_keys.sagas IS 'How many sagas the key has had (as far as retention kept them).';
COMMENT ON COLUMN business_keys.earlier_saga_ids IS 'The earlier sagas of the key, newest first.';
