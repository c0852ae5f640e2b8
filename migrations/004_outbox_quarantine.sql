-- 004_outbox_quarantine.sql - commands the broker refuses for good.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- A command the broker refuses permanently (too large for it, an invalid
-- or unauthorised topic, a topic that does not exist after the client's
-- retries) would otherwise stay first in its lane and be refused again on
-- every turn.  The relay moves it here instead, with the broker's reason,
-- and goes on with the other rows.  So that a saga never receives command
-- N+1 without N, the saga's outbox rows after the refused one move here
-- with it (error "follows quarantined command <id>"); commands the saga
-- decides afterwards (its compensations, once the step times out) are
-- published as usual.  Nothing reads this table but people: to publish a
-- row again, once its cause is fixed, move it back to the outbox:
--
--   SELECT * FROM quarantined_commands;        what the broker refused
--
--   WITH r AS (DELETE FROM outbox_quarantine WHERE saga_id = '...'
--              RETURNING *)
--   INSERT INTO outbox (saga_id, lane, message_id, topic, type, source,
--                       step_name, reply_to, payload, traceparent, created_at)
--   SELECT saga_id, lane, message_id, topic, type, source, step_name,
--          reply_to, payload, traceparent, created_at FROM r ORDER BY id;

CREATE TABLE outbox_quarantine (
    id             bigint      PRIMARY KEY,
    saga_id        uuid        NOT NULL,
    lane           smallint    NOT NULL,
    message_id     text        NOT NULL,
    topic          text        NOT NULL,
    type           text        NOT NULL,
    source         text        NOT NULL,
    step_name      text,
    reply_to       text,
    payload        text        NOT NULL,
    traceparent    text,
    created_at     timestamptz NOT NULL,
    error          text        NOT NULL,
    follows        bigint,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE outbox_quarantine IS 'Outbox rows the relay set aside: the broker refused them permanently, or they follow such a row of the same saga. Never published unless moved back to the outbox.';
COMMENT ON COLUMN outbox_quarantine.id IS 'The row''s id in the outbox (its place in the saga''s order).';
COMMENT ON COLUMN outbox_quarantine.saga_id IS 'Saga that decided the command.';
COMMENT ON COLUMN outbox_quarantine.lane IS 'Its outbox lane (0-15), kept for a move back.';
COMMENT ON COLUMN outbox_quarantine.message_id IS 'CloudEvents id of the command.';
COMMENT ON COLUMN outbox_quarantine.topic IS 'Kafka topic the command was for.';
COMMENT ON COLUMN outbox_quarantine.type IS 'CloudEvents type of the command.';
COMMENT ON COLUMN outbox_quarantine.source IS 'CloudEvents source of the command.';
COMMENT ON COLUMN outbox_quarantine.step_name IS 'The step the command belongs to.';
COMMENT ON COLUMN outbox_quarantine.reply_to IS 'Topic the service should reply on.';
COMMENT ON COLUMN outbox_quarantine.payload IS 'The command''s data as JSON text.';
COMMENT ON COLUMN outbox_quarantine.traceparent IS 'W3C traceparent of the event that caused the command.';
COMMENT ON COLUMN outbox_quarantine.created_at IS 'When the command was decided (the outbox row''s created_at).';
COMMENT ON COLUMN outbox_quarantine.error IS 'Why: the broker''s refusal, or "follows quarantined command <id>".';
COMMENT ON COLUMN outbox_quarantine.follows IS 'For a row set aside with an earlier one of its saga: that row''s id; NULL for the refused row itself.';
COMMENT ON COLUMN outbox_quarantine.quarantined_at IS 'When the relay set it aside.';
CREATE INDEX outbox_quarantine_saga_idx ON outbox_quarantine (saga_id, id);

CREATE VIEW quarantined_commands AS
SELECT q.id, q.saga_id, s.definition_name, s.business_key, q.step_name,
       q.topic, q.type, q.message_id, octet_length(q.payload) AS payload_bytes,
       q.error, q.follows, q.created_at, q.quarantined_at,
       now() - q.quarantined_at AS quarantined_for
FROM outbox_quarantine q
LEFT JOIN sagas s ON s.id = q.saga_id
ORDER BY q.id;
COMMENT ON VIEW quarantined_commands IS
  'Commands the relay set aside because the broker refused them (or an earlier command of their saga), in outbox order. Fix the cause, then move them back to the outbox (see migrations/004_outbox_quarantine.sql).';
COMMENT ON COLUMN quarantined_commands.id IS 'The row''s outbox id.';
COMMENT ON COLUMN quarantined_commands.saga_id IS 'Saga that decided the command.';
COMMENT ON COLUMN quarantined_commands.definition_name IS 'Name of the saga''s definition (NULL when the saga row is gone).';
COMMENT ON COLUMN quarantined_commands.business_key IS 'Business key of the saga (e.g. the order id).';
COMMENT ON COLUMN quarantined_commands.step_name IS 'The step the command belongs to.';
COMMENT ON COLUMN quarantined_commands.topic IS 'Kafka topic the command was for.';
COMMENT ON COLUMN quarantined_commands.type IS 'CloudEvents type of the command.';
COMMENT ON COLUMN quarantined_commands.message_id IS 'CloudEvents id of the command.';
COMMENT ON COLUMN quarantined_commands.payload_bytes IS 'Size of the command''s data in bytes.';
COMMENT ON COLUMN quarantined_commands.error IS 'The broker''s refusal, or "follows quarantined command <id>".';
COMMENT ON COLUMN quarantined_commands.follows IS 'The refused row this one was set aside with; NULL for the refused row.';
COMMENT ON COLUMN quarantined_commands.created_at IS 'When the command was decided.';
COMMENT ON COLUMN quarantined_commands.quarantined_at IS 'When the relay set it aside.';
COMMENT ON COLUMN quarantined_commands.quarantined_for IS 'How long it has been set aside.';
