-- 011_saga_output.sql - a saga's output, and the count behind its
-- lifecycle events' ids.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- A definition may declare an "output" template, rendered over the whole
-- context when the saga completes: it is what the saga produced, for the
-- services that listen to saga.completed and for people reading the
-- table, so it is kept on the saga row.  Every lifecycle event
-- (saga.started, saga.completed, ... on the lifecycle_topic) has the id
-- "<saga id>/<type>/<n>", n counting the saga's lifecycle events: the
-- same when a committed row is published again, new for each event, also
-- when a retried saga ends a second time.  The count is kept with the
-- saga, so a transition decides the same id whatever process applies it.
-- Both columns are written with the saga row, which every transition
-- rewrites anyway, and neither is indexed: updates stay HOT.

ALTER TABLE sagas ADD COLUMN output jsonb;
COMMENT ON COLUMN sagas.output IS
  'What the saga produced: the definition''s "output" template rendered over its context when it completed (the output of its saga.completed event). NULL before, when the definition has none, or when it was too large (see the saga.output_failed history entry).';

ALTER TABLE sagas ADD COLUMN lifecycle_seq integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN sagas.lifecycle_seq IS
  'Lifecycle events the saga has had (saga.started is 1): the n of the latest one''s id "<saga id>/<type>/<n>".';

CREATE OR REPLACE VIEW saga_contexts AS
SELECT s.id, s.definition_name, s.business_key, s.status, saga_context(s) AS context,
       s.output
  FROM sagas s;
COMMENT ON COLUMN saga_contexts.output IS 'What the saga produced once completed (sagas.output); NULL before.';
