-- step_set50.sql - the same work as step_single.sql for 50 saga steps in
-- one transaction, in set-based statements (what the orchestrator's batch
-- does): lock the 50 instance rows in one ordered SELECT ... FOR UPDATE,
-- update them from unnest(), insert 50 outbox and 50 inbox rows with one
-- INSERT ... SELECT each, commit.  Steps per second = TPS x 50.
--   pgbench -n -M prepared -D instances=100000 -f step_set50.sql
-- The 50 ids are distinct: base + g * 7919 (a prime) modulo instances.
\set base random(0, :instances - 1)
BEGIN;
SELECT id, status, context, version FROM b_instance
 WHERE id = ANY (ARRAY(SELECT 1 + (:base + g * 7919) % :instances
                         FROM generate_series(1, 50) AS g))
 ORDER BY id FOR UPDATE;
UPDATE b_instance AS i
   SET context = jsonb_set(i.context, '{steps,last}', to_jsonb(u.id)),
       version = i.version + 1, updated_at = now()
  FROM unnest(ARRAY(SELECT 1 + (:base + g * 7919)::bigint % :instances
                      FROM generate_series(1, 50) AS g)) AS u(id)
 WHERE i.id = u.id;
INSERT INTO b_outbox (saga_id, lane, message_id, topic, type, source,
                      step_name, reply_to, payload)
SELECT u.id, u.id % 16, md5(u.id::text)::uuid || '/charge/action/' || :client_id,
       'bench.commands', 'bench_seq3.charge', '/orchestrator/bench_seq3',
       'charge', 'orchestrator.replies',
       '{"id":"k-' || u.id || '","total":' || u.id || ',"step":"charge"}'
  FROM unnest(ARRAY(SELECT 1 + (:base + g * 7919)::bigint % :instances
                      FROM generate_series(1, 50) AS g)) WITH ORDINALITY AS u(id, n)
 ORDER BY u.n;
INSERT INTO b_inbox (consumer, message_id)
SELECT 'orchestrator', '/responder/responder ' || gen_random_uuid()
  FROM generate_series(1, 50);
END;
