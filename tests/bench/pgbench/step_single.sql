-- step_single.sql - one saga step per transaction, the way a naive
-- orchestrator would do it: lock the instance row, update it, insert the
-- command into the outbox and the reply's id into the inbox, commit.
--   pgbench -n -M prepared -D instances=100000 -f step_single.sql
\set id random(1, :instances)
BEGIN;
SELECT status, context, version FROM b_instance WHERE id = :id FOR UPDATE;
UPDATE b_instance
   SET context = jsonb_set(context, '{steps,last}', to_jsonb(:id::bigint)),
       version = version + 1, updated_at = now()
 WHERE id = :id;
INSERT INTO b_outbox (saga_id, lane, message_id, topic, type, source,
                      step_name, reply_to, payload)
VALUES (:id, :id % 16, md5(:id::text)::uuid || '/charge/action/' || :client_id,
        'bench.commands', 'bench_seq3.charge', '/orchestrator/bench_seq3',
        'charge', 'orchestrator.replies',
        '{"id":"k-' || :id || '","total":' || :id || ',"step":"charge"}');
INSERT INTO b_inbox (consumer, message_id)
VALUES ('orchestrator', '/responder/responder ' || gen_random_uuid());
END;
