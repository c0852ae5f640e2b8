-- setup.sql - tables for the pgbench baselines of tests/bench/run-bench.sh:
-- the work of one saga step without the orchestrator around it.
--
--   psql -v instances=100000 -f setup.sql
--
-- b_instance stands for orchestrator.sagas (a status, a JSON context of a
-- few hundred bytes, a version), b_outbox and b_inbox have the columns and
-- indexes of the orchestrator's outbox and inbox.  Keys are bigint, not
-- uuid, so that pgbench can pick them with random().
\set ON_ERROR_STOP 1
DROP TABLE IF EXISTS b_instance, b_outbox, b_inbox;

CREATE TABLE b_instance (
    id          bigint      PRIMARY KEY,
    status      text        NOT NULL,
    context     jsonb       NOT NULL,
    version     bigint      NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO b_instance (id, status, context)
SELECT i, 'running',
       jsonb_build_object(
           'input', jsonb_build_object('id', 'k-' || i, 'total', i,
                                       'customer', 'c-42', 'currency', 'EUR'),
           'saga', jsonb_build_object('id', md5(i::text)::uuid, 'key', 'k-' || i,
                                      'name', 'bench_seq3', 'version', 1),
           'steps', jsonb_build_object('reserve', jsonb_build_object(
               'command_id', md5(i::text)::uuid || '/reserve/action/1',
               'command_type', 'bench_seq3.reserve', 'responder', 'responder')))
FROM generate_series(1, :instances) AS i;

CREATE TABLE b_outbox (
    id          bigserial   PRIMARY KEY,
    saga_id     bigint      NOT NULL,
    lane        smallint    NOT NULL,
    message_id  text        NOT NULL,
    topic       text        NOT NULL,
    type        text        NOT NULL,
    source      text        NOT NULL,
    step_name   text,
    reply_to    text,
    payload     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE b_inbox (
    consumer     text        NOT NULL,
    message_id   text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
VACUUM ANALYZE b_instance;
