-- 013_parked_events.sql - events that arrive before their saga.
--
-- Applied like 001 (one transaction, search_path set to the orchestrator's
-- schema), so names are unqualified.
--
-- A wait step awaits an event by business key.  When such an event comes
-- before any saga of the definition has that key (the services raced the
-- trigger, or the trigger comes from another topic), it used to be
-- dead-lettered.  Now it is parked here, whole, until a saga of the
-- definition starts with the key: the transaction that starts the saga
-- takes the key's parked events, oldest first, and applies them as it
-- would an early event for an existing saga (the first one for a step
-- wins, the others are recorded as ignored in the saga's history).  An
-- event not taken within its time to live (the wait step's "early_ttl",
-- else the parked_ttl setting) is moved to dead_letters by housekeeping,
-- with the reason, and its inbox row is released so that a replay of it
-- is applied.
--
-- The columns of the event as received are those of dead_letters, so
-- that an expired one moves there as it came.  Parking and starting take
-- a transaction-level advisory lock on (hashtext(definition),
-- hashtext(key)) before they look at each other's rows, so an event
-- parked while its saga starts elsewhere is never left behind.

CREATE TABLE parked_events (
    id              bigserial   PRIMARY KEY,
    definition_name text        NOT NULL,
    business_key    text        NOT NULL,
    type            text        NOT NULL,
    event_id        text,
    message_id      text        NOT NULL,
    data            jsonb,
    consumer        text        NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    key             bytea,
    headers         jsonb       NOT NULL DEFAULT '[]',
    header_names    bytea[],
    header_values   bytea[],
    payload         bytea,
    ttl             text        NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
COMMENT ON TABLE parked_events IS
  'Events a wait step awaits whose business key has no saga yet, kept until a saga of the definition starts with the key (it takes them) or they expire (to dead_letters).';
COMMENT ON COLUMN parked_events.definition_name IS 'The definition whose wait step awaits the event.';
COMMENT ON COLUMN parked_events.business_key IS 'The business key found in the event at the wait step''s key pointer.';
COMMENT ON COLUMN parked_events.type IS 'CloudEvents type of the event.';
COMMENT ON COLUMN parked_events.event_id IS 'CloudEvents id of the event.';
COMMENT ON COLUMN parked_events.message_id IS 'Its inbox id, "<source> <id>"; released when the event expires.';
COMMENT ON COLUMN parked_events.data IS 'The event''s data, as the saga''s wait step will see it.';
COMMENT ON COLUMN parked_events.consumer IS 'Consumer group that read the event.';
COMMENT ON COLUMN parked_events."offset" IS 'Topic, partition and offset the event was read from.';
COMMENT ON COLUMN parked_events.payload IS 'Kafka value of the event, as received (key, headers: likewise).';
COMMENT ON COLUMN parked_events.ttl IS 'How long it may stay parked: the wait step''s early_ttl or the parked_ttl setting.';
COMMENT ON COLUMN parked_events.expires_at IS 'When housekeeping moves it to dead_letters if no saga took it.';

CREATE INDEX parked_events_key_idx ON parked_events (definition_name, business_key, id);
CREATE INDEX parked_events_expiry_idx ON parked_events (expires_at);

CREATE VIEW parked_event_summary AS
SELECT definition_name, type, count(*) AS events,
       min(parked_at) AS oldest_parked_at, min(expires_at) AS next_expiry
  FROM parked_events
 GROUP BY definition_name, type;
COMMENT ON VIEW parked_event_summary IS
  'What is parked, by definition and event type: how many, since when, and when the next one expires.';
