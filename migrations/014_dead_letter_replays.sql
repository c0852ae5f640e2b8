-- 014_dead_letter_replays.sql - every replay of a dead letter, recorded.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- `orchestrator dead-letters replay` publishes a dead letter again, as it
-- was received or, with --payload, with a corrected Kafka value.  The dead
-- letter row itself never changes but for replayed_at (its last replay):
-- what came in stays recorded as it came.  Each replay adds a row here, in
-- the statement that sets replayed_at, once the broker acknowledged it:
-- who asked for it, where it went, and, for a corrected one, the value
-- that was sent instead.  The rows go with their dead letter (purge,
-- dead_letter_retention), which keeps them as long as what they explain.
--
--   SELECT d.id, d.error, r.replayed_at, r.replayed_by, r.corrected
--     FROM dead_letters d JOIN dead_letter_replays r ON r.dead_letter_id = d.id
--    ORDER BY r.id;

CREATE TABLE dead_letter_replays (
    id             bigserial   PRIMARY KEY,
    dead_letter_id bigint      NOT NULL
                   REFERENCES dead_letters (id) ON DELETE CASCADE,
    replayed_at    timestamptz NOT NULL DEFAULT now(),
    replayed_by    text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    corrected      boolean     NOT NULL,
    payload        bytea,
    payload_sha256 bytea,
    CHECK (corrected = (payload IS NOT NULL))
);
COMMENT ON TABLE dead_letter_replays IS
  'Every replay of a dead letter (`orchestrator dead-letters replay`), written when the broker acknowledged it; deleted with its dead letter.';
COMMENT ON COLUMN dead_letter_replays.dead_letter_id IS 'The dead letter replayed (dead_letters.id).';
COMMENT ON COLUMN dead_letter_replays.replayed_at IS 'When the broker acknowledged the replayed message.';
COMMENT ON COLUMN dead_letter_replays.replayed_by IS 'Who replayed it: the --by flag, else "<OS user>@<host>".';
COMMENT ON COLUMN dead_letter_replays."offset" IS 'Topic, partition and offset the replayed message was written to.';
COMMENT ON COLUMN dead_letter_replays.corrected IS 'Whether the message carried a corrected value (--payload) instead of the dead letter''s own; it then has the header orc_replayed_payload: corrected.';
COMMENT ON COLUMN dead_letter_replays.payload IS 'The corrected Kafka value that was sent (JSON); NULL when the dead letter''s own payload was.';
COMMENT ON COLUMN dead_letter_replays.payload_sha256 IS 'SHA-256 of the Kafka value that was sent (NULL for a tombstone).';

CREATE INDEX dead_letter_replays_dead_letter_idx
    ON dead_letter_replays (dead_letter_id, id);
COMMENT ON INDEX dead_letter_replays_dead_letter_idx IS
  'The replays of one dead letter, in order (and what deleting a dead letter looks up).';
