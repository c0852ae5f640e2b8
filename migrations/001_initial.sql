-- 001_initial.sql - the data model of the orchestrator.
--
-- Applied by `orchestrator migrate` in one transaction with search_path set
-- to the orchestrator's schema (default "orchestrator"), so names here are
-- unqualified.  Tables are meant to be read, and in an emergency fixed, by
-- people with psql: statuses are readable text, times are timestamptz.

CREATE TABLE saga_definitions (
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    body        jsonb       NOT NULL,
    checksum    text        NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE saga_definitions IS
  'Saga definitions as loaded by `orchestrator definitions load`; immutable once loaded: a new body needs a new version.';
COMMENT ON COLUMN saga_definitions.name IS 'Definition name, the "name" of the JSON definition.';
COMMENT ON COLUMN saga_definitions.version IS 'Definition version; running sagas keep the version they started with.';
COMMENT ON COLUMN saga_definitions.body IS 'The JSON definition as loaded.';
COMMENT ON COLUMN saga_definitions.checksum IS 'SHA-256 (hex) of the body as text; a different body under the same version is refused.';

CREATE TABLE sagas (
    id                  uuid        PRIMARY KEY,
    definition_name     text        NOT NULL,
    definition_version  integer     NOT NULL,
    business_key        text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('running', 'completed',
                            'compensating', 'compensated', 'failed', 'stuck',
                            'cancelled', 'timed_out')),
    context             jsonb       NOT NULL DEFAULT '{}',
    version             bigint      NOT NULL DEFAULT 1,
    wake_at             timestamptz,
    deadline_at         timestamptz,
    completion_seq      integer     NOT NULL DEFAULT 0,
    failing_reason      text        CHECK (failing_reason IN ('failure', 'cancel', 'timeout')),
    failure             text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    FOREIGN KEY (definition_name, definition_version)
        REFERENCES saga_definitions (name, version),
    UNIQUE (definition_name, business_key)
);
COMMENT ON TABLE sagas IS 'One row per saga instance: its status, business key and context.';
COMMENT ON COLUMN sagas.id IS 'Saga id; the Kafka key and the sagaid attribute of every command it sends.';
COMMENT ON COLUMN sagas.definition_name IS 'Name of the definition the saga runs.';
COMMENT ON COLUMN sagas.definition_version IS 'Version of the definition the saga started with and keeps.';
COMMENT ON COLUMN sagas.business_key IS 'Business key taken from the trigger event (e.g. the order id); one saga per definition and key.';
COMMENT ON COLUMN sagas.status IS 'running, completed, compensating, compensated, failed, stuck (an operator must act), cancelled, timed_out.';
COMMENT ON COLUMN sagas.context IS 'Saga context: input (trigger data), steps.<name> (reply data), saga (id, key, name, version).';
COMMENT ON COLUMN sagas.version IS 'Incremented by every transition; optimistic check for writers that do not lock.';
COMMENT ON COLUMN sagas.wake_at IS 'Earliest pending timer (step timeout, retry, delay, wait, saga deadline); NULL when none.';
COMMENT ON COLUMN sagas.deadline_at IS 'Saga timeout: when a still running saga fails and compensates.';
COMMENT ON COLUMN sagas.completion_seq IS 'Counter of completed steps; gives saga_steps.completed_seq, the order compensation reverses.';
COMMENT ON COLUMN sagas.failing_reason IS 'Why the saga is compensating or ended unsuccessfully: failure, cancel or timeout.';
COMMENT ON COLUMN sagas.failure IS 'Human-readable reason of the failure (step and error).';
COMMENT ON COLUMN sagas.created_at IS 'When the saga started (its trigger event was applied).';
COMMENT ON COLUMN sagas.updated_at IS 'Last transition.';
COMMENT ON COLUMN sagas.finished_at IS 'When the saga reached a terminal status.';

CREATE INDEX sagas_wake_at_idx ON sagas (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX sagas_unfinished_idx ON sagas (status, updated_at)
    WHERE status IN ('running', 'compensating', 'stuck');

CREATE TABLE saga_steps (
    saga_id              uuid        NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    step_name            text        NOT NULL,
    step_index           integer     NOT NULL,
    status               text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending',
                             'running', 'succeeded', 'failed', 'skipped',
                             'compensating', 'compensated')),
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
    early_event          jsonb,
    PRIMARY KEY (saga_id, step_name)
);
COMMENT ON TABLE saga_steps IS 'One row per step of every saga.';
COMMENT ON COLUMN saga_steps.status IS 'pending, running, succeeded, failed, skipped, compensating, compensated.';
COMMENT ON COLUMN saga_steps.attempt IS 'Attempt number of the step''s command (1 = first try).';
COMMENT ON COLUMN saga_steps.attempt_base IS 'Attempts made before the last operator retry; the retry policy counts attempt - attempt_base.';
COMMENT ON COLUMN saga_steps.compensation_attempt_base IS 'The same for the compensation.';
COMMENT ON COLUMN saga_steps.compensation_attempt IS 'Attempt number of the step''s compensation command.';
COMMENT ON COLUMN saga_steps.started_at IS 'When the step started (its first command was decided).';
COMMENT ON COLUMN saga_steps.finished_at IS 'When the step succeeded, failed, was skipped or compensated.';
COMMENT ON COLUMN saga_steps.wake_at IS 'The step''s pending timer, if any; see wake_reason.';
COMMENT ON COLUMN saga_steps.wake_reason IS 'What the timer is for: timeout, retry, delay, wait_timeout, comp_timeout, comp_retry.';
COMMENT ON COLUMN saga_steps.completed_seq IS 'Order in which the step completed; compensation runs in reverse.';
COMMENT ON COLUMN saga_steps.last_error IS 'Last error of the step (failure reply type, timeout, ...).';
COMMENT ON COLUMN saga_steps.early_event IS 'Data of a correlated event that arrived before this wait step started.';

CREATE TABLE saga_history (
    id          bigserial   PRIMARY KEY,
    saga_id     uuid        NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text        NOT NULL,
    step_name   text,
    event_id    text,
    detail      jsonb
);
COMMENT ON TABLE saga_history IS 'Append-only timeline of every event, transition and operator action of every saga.';
COMMENT ON COLUMN saga_history.kind IS 'What happened, e.g. saga.started, step.succeeded, compensation.started, reply.ignored, operator.cancel.';
COMMENT ON COLUMN saga_history.step_name IS 'The step concerned, if any.';
COMMENT ON COLUMN saga_history.event_id IS 'CloudEvents id of the event that caused it, if any.';
COMMENT ON COLUMN saga_history.detail IS 'Details as JSON (reply type, error, attempt, reason).';
CREATE INDEX saga_history_saga_idx ON saga_history (saga_id, id);

CREATE FUNCTION saga_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'saga_history is append-only'
        USING HINT = 'Rows are removed only with their saga (ON DELETE CASCADE).';
END $$;
CREATE TRIGGER saga_history_no_update BEFORE UPDATE ON saga_history
    FOR EACH ROW EXECUTE FUNCTION saga_history_append_only();

CREATE TABLE outbox (
    id          bigserial   PRIMARY KEY,
    saga_id     uuid        NOT NULL,
    lane        smallint    NOT NULL,
    message_id  text        NOT NULL,
    topic       text        NOT NULL,
    type        text        NOT NULL,
    source      text        NOT NULL,
    step_name   text,
    reply_to    text,
    payload     text        NOT NULL,
    traceparent text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE outbox IS 'Commands decided by committed transitions, waiting to be published to Kafka by the relay; a row is deleted once the broker acknowledged it.';
COMMENT ON COLUMN outbox.id IS 'Publication order; per saga, rows are published in id order.';
COMMENT ON COLUMN outbox.saga_id IS 'Saga that decided the command; the Kafka key and the sagaid attribute.';
COMMENT ON COLUMN outbox.lane IS 'Ordering lane (0-15) derived from the saga id; one relay at a time owns a lane (advisory lock), so per-saga order holds with several relays.';
COMMENT ON COLUMN outbox.message_id IS 'CloudEvents id: stable, the same when the command is re-published after a crash.';
COMMENT ON COLUMN outbox.topic IS 'Kafka topic the command goes to.';
COMMENT ON COLUMN outbox.type IS 'CloudEvents type of the command.';
COMMENT ON COLUMN outbox.source IS 'CloudEvents source: /orchestrator/<definition name>.';
COMMENT ON COLUMN outbox.step_name IS 'The step the command belongs to (the sagastep attribute).';
COMMENT ON COLUMN outbox.reply_to IS 'Topic the service should reply on (the replyto attribute).';
COMMENT ON COLUMN outbox.payload IS 'The command''s data as JSON text (the Kafka message value).';
COMMENT ON COLUMN outbox.traceparent IS 'W3C traceparent of the event that caused the command.';
COMMENT ON COLUMN outbox.created_at IS 'Commit time of the transition that decided it; now() - created_at is the outbox lag.';
CREATE INDEX outbox_lane_idx ON outbox (lane, id);
-- Rows live milliseconds: vacuum often, or dead rows slow every fetch.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0,
                        autovacuum_vacuum_threshold = 2000);

-- Wake the relays (LISTEN orchestrator_outbox) once per inserting statement.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orchestrator_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE inbox (
    consumer     text        NOT NULL,
    message_id   text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
COMMENT ON TABLE inbox IS 'Ids of events already applied, per consumer group: a redelivered event is recognised and changes nothing.';
COMMENT ON COLUMN inbox.consumer IS 'Consumer group that applied the event.';
COMMENT ON COLUMN inbox.message_id IS 'CloudEvents source and id of the event, as "<source> <id>".';

CREATE TABLE dead_letters (
    id            bigserial   PRIMARY KEY,
    consumer      text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    key           bytea,
    headers       jsonb       NOT NULL DEFAULT '[]',
    payload       bytea,
    error         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    replayed_at   timestamptz,
    UNIQUE (consumer, topic, partition, "offset")
);
COMMENT ON TABLE dead_letters IS 'Events that could not be parsed, matched or applied, kept whole with the reason; `orchestrator dead-letters replay` re-publishes one.';
COMMENT ON COLUMN dead_letters.topic IS 'Topic the event was read from.';
COMMENT ON COLUMN dead_letters.partition IS 'Partition the event was read from.';
COMMENT ON COLUMN dead_letters."offset" IS 'Offset of the event in its partition.';
COMMENT ON COLUMN dead_letters.key IS 'Kafka key of the event, as received.';
COMMENT ON COLUMN dead_letters.headers IS 'Kafka headers as a JSON array of [name, value] pairs.';
COMMENT ON COLUMN dead_letters.payload IS 'Kafka value of the event, as received.';
COMMENT ON COLUMN dead_letters.error IS 'Why the event was dead-lettered.';
COMMENT ON COLUMN dead_letters.replayed_at IS 'When an operator last re-published it.';

CREATE VIEW overdue_sagas AS
SELECT id, definition_name, definition_version, business_key, status,
       deadline_at, now() - deadline_at AS overdue_by, updated_at
FROM sagas
WHERE status IN ('running', 'compensating', 'stuck')
  AND deadline_at < now()
ORDER BY deadline_at;
COMMENT ON VIEW overdue_sagas IS 'Sagas not finished past their deadline, most overdue first.';
