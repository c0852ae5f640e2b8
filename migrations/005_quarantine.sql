-- 005_quarantine.sql - sagas whose rows the orchestrator cannot read.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- A saga row that does not describe a saga of its definition (a context
-- edited by hand into something that is not an object, a step row for a
-- step the definition lacks, a stored definition that no longer loads)
-- must not stop a process or block other sagas.  The orchestrator then
-- quarantines it: it sets quarantined_at and quarantine_reason, writes a
-- saga.quarantined history row, and from then on skips it.  Its timers do
-- not fire, and an event for it is dead-lettered with the reason.  The
-- saga's own status is kept as it was (a flag, not a status), so that
-- `orchestrator quarantine release ID`, once the row is fixed, puts it back
-- exactly where it stood, wake-up time included.
--
--   SELECT * FROM quarantined_sagas;     what an operator must fix

ALTER TABLE sagas
    ADD COLUMN quarantined_at timestamptz,
    ADD COLUMN quarantine_reason text,
    ADD CONSTRAINT sagas_quarantine_reason_check
        CHECK ((quarantined_at IS NULL) = (quarantine_reason IS NULL));
COMMENT ON COLUMN sagas.quarantined_at IS
  'When the orchestrator found the row unreadable and set the saga aside; NULL for a saga it runs. Released by `orchestrator quarantine release ID`.';
COMMENT ON COLUMN sagas.quarantine_reason IS
  'Why the row could not be read (the column and what was wrong); NULL unless quarantined.';

CREATE INDEX sagas_quarantined_idx ON sagas (quarantined_at)
    WHERE quarantined_at IS NOT NULL;

CREATE VIEW quarantined_sagas AS
SELECT s.id, s.definition_name, s.definition_version, s.business_key,
       s.status, s.quarantine_reason, s.quarantined_at,
       now() - s.quarantined_at AS quarantined_for, s.wake_at, s.updated_at
FROM sagas s
WHERE s.quarantined_at IS NOT NULL
ORDER BY s.quarantined_at;
COMMENT ON VIEW quarantined_sagas IS
  'Sagas the orchestrator cannot read and skips: fix the row, then `orchestrator quarantine release ID`. Oldest first.';
COMMENT ON COLUMN quarantined_sagas.id IS 'Saga id.';
COMMENT ON COLUMN quarantined_sagas.definition_name IS 'Name of the definition the saga runs.';
COMMENT ON COLUMN quarantined_sagas.definition_version IS 'Version of the definition the saga runs.';
COMMENT ON COLUMN quarantined_sagas.business_key IS 'Business key (e.g. the order id).';
COMMENT ON COLUMN quarantined_sagas.status IS 'The status the saga had when it was set aside; kept for the release.';
COMMENT ON COLUMN quarantined_sagas.quarantine_reason IS 'What could not be read, and why.';
COMMENT ON COLUMN quarantined_sagas.quarantined_at IS 'When it was set aside.';
COMMENT ON COLUMN quarantined_sagas.quarantined_for IS 'How long it has been set aside.';
COMMENT ON COLUMN quarantined_sagas.wake_at IS 'Its next timer, which fires once it is released (at once when past).';
COMMENT ON COLUMN quarantined_sagas.updated_at IS 'Its last transition before the quarantine.';
