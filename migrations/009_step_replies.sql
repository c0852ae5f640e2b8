-- 009_step_replies.sql - replies are deduplicated by the step they name,
-- not by an inbox row.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- Every applied event used to leave a row in inbox, the one table whose
-- only purpose is to recognise a redelivery; for a three-step saga, three
-- of its four events are replies.  A reply names its saga and step, and
-- the step row is rewritten when the reply is applied anyway: so the step
-- remembers the ids of the replies it took (at most 16, oldest dropped), a
-- redelivered reply is recognised there and changes nothing, and inbox
-- keeps only triggers and correlated events (which may start or reach any
-- saga).  The README's Guarantees section gives the argument.

ALTER TABLE saga_steps ADD COLUMN replies jsonb;
COMMENT ON COLUMN saga_steps.replies IS
  'The ids ("<source> <id>") of the replies that reached this step, applied or ignored, oldest first, at most 16: a reply whose id is here is a redelivery and changes nothing. NULL = none yet.';
